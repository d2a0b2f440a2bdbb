//! Where nodes are drawn: scenario positions when given, a circle for small clusters, and a
//! force-directed layout (Fruchterman–Reingold over a petgraph graph of who talks to whom)
//! for larger ones. Positions are in world units, roughly within [-1, 1]².

use petgraph::graph::{NodeIndex, UnGraph};

pub type Pos = [f32; 2];

/// Nodes up to this count are placed on a circle.
pub const CIRCLE_MAX: usize = 40;

/// Evenly on a circle, first node at the top, clockwise.
pub fn circle(n: usize) -> Vec<Pos> {
    (0..n)
        .map(|i| {
            let a =
                std::f32::consts::TAU * i as f32 / n.max(1) as f32 - std::f32::consts::FRAC_PI_2;
            [a.cos(), a.sin()]
        })
        .collect()
}

/// A sunflower (phyllotaxis) spiral: an even spread that does not depend on the graph,
/// used as the deterministic start of the force layout.
pub fn sunflower(n: usize) -> Vec<Pos> {
    let golden = std::f32::consts::PI * (3.0 - 5f32.sqrt());
    (0..n)
        .map(|i| {
            let r = ((i as f32 + 0.5) / n.max(1) as f32).sqrt();
            let a = i as f32 * golden;
            [r * a.cos(), r * a.sin()]
        })
        .collect()
}

/// Fruchterman–Reingold: edges pull, all pairs push, with a cooling schedule; deterministic
/// (fixed start, fixed iteration count). O(n² · iterations), so large graphs use fewer rounds.
pub fn force_directed(graph: &UnGraph<(), ()>) -> Vec<Pos> {
    let n = graph.node_count();
    let mut pos = sunflower(n);
    if n < 3 {
        return pos;
    }
    let k = (4.0 / n as f32).sqrt() * 0.6; // ideal distance in a 2x2 box
    let iterations = if n <= 200 {
        200
    } else {
        (40_000_000 / (n * n)).clamp(5, 200)
    };
    let mut temp = 0.2f32;
    let cool = temp / iterations as f32;
    let mut disp = vec![[0f32; 2]; n];
    for _ in 0..iterations {
        disp.iter_mut().for_each(|d| *d = [0.0, 0.0]);
        for i in 0..n {
            for j in (i + 1)..n {
                let dx = pos[i][0] - pos[j][0];
                let dy = pos[i][1] - pos[j][1];
                let d2 = (dx * dx + dy * dy).max(1e-6);
                let f = k * k / d2; // repulsion / distance
                disp[i][0] += dx * f;
                disp[i][1] += dy * f;
                disp[j][0] -= dx * f;
                disp[j][1] -= dy * f;
            }
        }
        for e in graph.edge_indices() {
            let (a, b) = graph.edge_endpoints(e).expect("edge has endpoints");
            let (a, b) = (a.index(), b.index());
            let dx = pos[a][0] - pos[b][0];
            let dy = pos[a][1] - pos[b][1];
            let d = (dx * dx + dy * dy).sqrt().max(1e-3);
            let f = d / k; // attraction / distance
            disp[a][0] -= dx * f;
            disp[a][1] -= dy * f;
            disp[b][0] += dx * f;
            disp[b][1] += dy * f;
        }
        for i in 0..n {
            let [dx, dy] = disp[i];
            let len = (dx * dx + dy * dy).sqrt().max(1e-6);
            let step = len.min(temp);
            pos[i][0] += dx / len * step;
            pos[i][1] += dy / len * step;
        }
        temp = (temp - cool).max(0.002);
    }
    normalize(&mut pos);
    pos
}

/// Scales and centres positions into [-1, 1]².
pub fn normalize(pos: &mut [Pos]) {
    if pos.is_empty() {
        return;
    }
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in pos.iter() {
        for d in 0..2 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-6);
    for p in pos.iter_mut() {
        for d in 0..2 {
            p[d] = (p[d] - (lo[d] + hi[d]) / 2.0) / span * 2.0;
        }
    }
}

/// The layout for a scenario: explicit positions win; otherwise a circle for small clusters,
/// the force layout over `edges` (who exchanged messages) for larger sparse ones, and an even
/// disc for larger dense ones.
pub fn layout(n: usize, given: &[Option<(f32, f32)>], edges: &[(usize, usize)]) -> Vec<Pos> {
    if n > 0 && given.len() == n && given.iter().all(|p| p.is_some()) {
        return given
            .iter()
            .map(|p| {
                let (x, y) = p.expect("checked");
                [x, y]
            })
            .collect();
    }
    if n <= CIRCLE_MAX {
        return circle(n);
    }
    // A force layout helps only for a sparse graph that reaches every node (a ring, a tree,
    // a mesh of neighbours). Dense traffic (everyone talks to everyone) makes a blob, and nodes
    // that never talked fly to the edge and squeeze the rest; spread those evenly on a disc.
    let mut degree = vec![0usize; n];
    for &(a, b) in edges {
        if a < n && b < n && a != b {
            degree[a] += 1;
            degree[b] += 1;
        }
    }
    if edges.len() > 2 * n || degree.contains(&0) {
        return sunflower(n);
    }
    let mut g = UnGraph::<(), ()>::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for &(a, b) in edges {
        let (na, nb) = (NodeIndex::new(a.min(n)), NodeIndex::new(b.min(n)));
        if a < n && b < n && a != b && g.find_edge(na, nb).is_none() {
            g.add_edge(na, nb, ());
        }
    }
    force_directed(&g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: Pos, b: Pos) -> f32 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    #[test]
    fn circle_starts_at_the_top_and_is_even() {
        let c = circle(4);
        assert!((c[0][0]).abs() < 1e-6 && (c[0][1] + 1.0).abs() < 1e-6);
        let d01 = dist(c[0], c[1]);
        let d12 = dist(c[1], c[2]);
        assert!((d01 - d12).abs() < 1e-5);
    }

    #[test]
    fn given_positions_are_used_as_they_are() {
        let p = layout(2, &[Some((0.5, 0.5)), Some((-0.5, 0.0))], &[]);
        assert_eq!(p, vec![[0.5, 0.5], [-0.5, 0.0]]);
    }

    #[test]
    fn force_layout_of_a_ring_keeps_neighbours_closer_than_opposites() {
        let n = 24;
        let edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        let p = layout(n, &[], &edges);
        assert_eq!(p.len(), n);
        let mean_neigh: f32 = (0..n).map(|i| dist(p[i], p[(i + 1) % n])).sum::<f32>() / n as f32;
        let mean_opp: f32 = (0..n).map(|i| dist(p[i], p[(i + n / 2) % n])).sum::<f32>() / n as f32;
        assert!(
            mean_neigh * 3.0 < mean_opp,
            "neighbours {mean_neigh} vs opposite {mean_opp}"
        );
        assert!(
            p.iter()
                .all(|q| q[0].abs() <= 1.0001 && q[1].abs() <= 1.0001)
        );
    }

    #[test]
    fn dense_or_partial_traffic_gets_an_even_disc_not_a_blob() {
        let partial: Vec<(usize, usize)> = (0..30).map(|i| (i, i + 1)).collect();
        assert_eq!(
            layout(60, &[], &partial),
            sunflower(60),
            "nodes 31..59 never talked"
        );
        let n = 100;
        let edges: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (0..8).map(move |k| (i, (i * 13 + k * 7 + 1) % n)))
            .collect();
        let p = layout(n, &[], &edges);
        assert_eq!(p, sunflower(n));
    }

    #[test]
    fn force_layout_is_deterministic_and_spreads_nodes() {
        let edges: Vec<(usize, usize)> = (0..40).map(|i| (i, (i * 7 + 3) % 40)).collect();
        let a = layout(40, &[], &edges);
        let b = layout(40, &[], &edges);
        assert_eq!(a, b);
        let min = (0..40)
            .flat_map(|i| ((i + 1)..40).map(move |j| (i, j)))
            .map(|(i, j)| dist(a[i], a[j]))
            .fold(f32::MAX, f32::min);
        assert!(min > 0.01, "two nodes on top of each other ({min})");
    }
}
