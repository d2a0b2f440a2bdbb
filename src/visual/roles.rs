//! How roles are drawn: each kind of node gets a shape the seed guides' flowcharts use
//! (a database cylinder, a cache box, a broker as a row of cells, services as rectangles,
//! clients as small glyphs), and systems with roles are laid out in layers, left to right in
//! the protocol's role order, like a request's path through them.

use crate::visual::layout::Pos;

/// The outline of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleShape {
    /// Peers of a symmetric protocol (no roles).
    Circle,
    /// Where requests are born: a small glyph.
    Client,
    /// An app server or a service: a rectangle.
    Service,
    /// A cache: a rounded square.
    Cache,
    /// A queue, log or broker: a row of cells.
    Cells,
    /// A database or store: a cylinder.
    Database,
}

/// The shape for a role name (`"orders-db"` is a database, `"broker"` a row of cells).
pub fn shape_of(role: &str) -> RoleShape {
    let r = role.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| r.contains(w));
    if r.is_empty() {
        RoleShape::Circle
    } else if has(&["client", "producer", "consumer"]) || r == "user" {
        // A `user` is a person; `users` is the service that owns them (microservices).
        RoleShape::Client
    } else if has(&["cache"]) {
        RoleShape::Cache
    } else if has(&[
        "broker",
        "queue",
        "log",
        "topic",
        "stream",
        "bus",
        "partition",
    ]) {
        RoleShape::Cells
    } else if has(&["db", "database", "store", "storage", "replica", "disk"]) {
        RoleShape::Database
    } else {
        RoleShape::Service
    }
}

/// Half the width of a layered layout (its height is [-1, 1]).
const WIDTH: f32 = 1.4;

/// Layers left to right by role rank; the nodes of one layer stacked top to bottom, centred.
/// Positions are within [-WIDTH, WIDTH] × [-1, 1].
pub fn layered(ranks: &[usize]) -> Vec<Pos> {
    let layers = ranks.iter().copied().max().map_or(0, |m| m + 1);
    // Only ranks in use become columns, so an unused role leaves no gap.
    let used: Vec<usize> = (0..layers).filter(|r| ranks.contains(r)).collect();
    let column = |rank: usize| used.iter().position(|&u| u == rank).unwrap_or(0);
    let cols = used.len().max(1);
    let mut seen = vec![0usize; layers];
    let count: Vec<usize> = (0..layers)
        .map(|r| ranks.iter().filter(|&&x| x == r).count())
        .collect();
    ranks
        .iter()
        .map(|&r| {
            let k = seen[r];
            seen[r] += 1;
            // Wider than tall: a request's path reads left to right on a landscape screen.
            let x = if cols == 1 {
                0.0
            } else {
                -WIDTH + 2.0 * WIDTH * column(r) as f32 / (cols - 1) as f32
            };
            let n = count[r];
            let y = if n == 1 {
                0.0
            } else {
                // Spread up to the full height, closer together for few nodes.
                let span = (0.7 * (n - 1) as f32).min(2.0);
                -span / 2.0 + span * k as f32 / (n - 1) as f32
            };
            [x, y]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_pick_the_shapes_of_the_guides() {
        assert_eq!(shape_of(""), RoleShape::Circle);
        assert_eq!(shape_of("client"), RoleShape::Client);
        assert_eq!(shape_of("orders-db"), RoleShape::Database);
        assert_eq!(shape_of("cache"), RoleShape::Cache);
        assert_eq!(shape_of("broker"), RoleShape::Cells);
        assert_eq!(shape_of("app"), RoleShape::Service);
        assert_eq!(shape_of("payment"), RoleShape::Service);
        assert_eq!(shape_of("user"), RoleShape::Client);
        assert_eq!(shape_of("users"), RoleShape::Service);
        assert_eq!(shape_of("bus"), RoleShape::Cells);
    }

    #[test]
    fn layers_go_left_to_right_in_role_order_and_stack_their_nodes() {
        // client, client, app, db (ranks 0, 0, 1, 2)
        let p = layered(&[0, 0, 1, 2]);
        assert_eq!(p[0][0], -WIDTH);
        assert_eq!(p[2], [0.0, 0.0]);
        assert_eq!(p[3], [WIDTH, 0.0]);
        assert!(p[0][1] < p[1][1], "stacked top to bottom");
        assert!((p[0][1] + p[1][1]).abs() < 1e-6, "centred");
        // An unused middle role leaves no empty column.
        let q = layered(&[0, 2]);
        assert_eq!(q, vec![[-WIDTH, 0.0], [WIDTH, 0.0]]);
    }
}
