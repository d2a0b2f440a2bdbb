//! The topology view: nodes, links, partitions, messages in flight, losses, captions, the
//! violation banner and the legend, painted with egui from the picture at the cursor.
//! One file per layer: `links`, `nodes`, `messages`, `overlays`; `input` handles the pointer.

mod input;
mod links;
mod messages;
mod nodes;
mod overlays;

use crate::gui::style;
use crate::sim::{NodeId, NodeView, SimTime, Tone};
use crate::visual::picture::{BurstPic, Liveness, MessagePic};
use crate::visual::roles::RoleShape;
use crate::visual::timeline::progress;
use bevy_egui::egui::{
    self, Align2, Color32, CornerRadius, FontId, Pos2, Rect, Sense, Shape, Stroke, Vec2,
};

/// Everything the canvas needs for one frame.
pub struct Scene<'a> {
    pub names: &'a [String],
    pub world: &'a [[f32; 2]],
    pub views: &'a [Option<NodeView>],
    pub liveness: &'a [Liveness],
    /// Per node: seconds of wall time since it restarted (for the flash), if recent.
    pub restarted: &'a [Option<f32>],
    pub messages: &'a [MessagePic],
    pub bursts: &'a [BurstPic],
    pub kinds: &'a [&'static str],
    /// The heading of the entries table (the protocol's [`crate::sim::Protocol::ENTRIES_HEADING`]).
    pub entries_heading: &'static str,
    /// The kinds sent so far: the legend lists only these (colours still follow `kinds`).
    pub used_kinds: &'a [&'static str],
    pub groups: &'a [Vec<NodeId>],
    pub blocked: &'a [(NodeId, NodeId)],
    pub held: &'a [(NodeId, NodeId)],
    pub now: SimTime,
    pub caption: Option<&'a str>,
    pub violation: Option<(&'a str, &'a str, &'a [NodeId])>,
    /// Seconds of wall time, for pulsing highlights.
    pub pulse: f32,
    pub big_text: bool,
    /// The outline of each node, by its role.
    pub shapes: &'a [RoleShape],
    /// Each node's service queue at the cursor (nodes with a service model).
    pub queues: &'a [Option<QueuePic>],
}

/// A service station's load at the cursor, as the queue bar draws it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueuePic {
    pub waiting: usize,
    pub busy: u32,
    pub workers: u32,
    pub capacity: u32,
}

/// View state kept between frames.
#[derive(Default)]
pub struct CanvasState {
    pub zoom: f32,
    pub pan: Vec2,
    pub selected: Vec<NodeId>,
    pub selected_link: Option<(NodeId, NodeId)>,
    pub selected_message: Option<u64>,
    /// The node a context menu is open for.
    pub menu_node: Option<NodeId>,
    pub lasso: Option<(Pos2, Pos2)>,
}

/// What the user did on the canvas this frame.
#[derive(Clone, Debug, PartialEq)]
pub enum CanvasInput {
    None,
    /// Context menu chose an action for a node.
    NodeAction(NodeId, NodeCommand),
    PartitionSelection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeCommand {
    Crash,
    Restart,
    Pause,
    Resume,
    FireTimer,
    ClientRequest,
}

pub(super) struct Geometry {
    pub scale: f32,
    pub center: Pos2,
    pub radius: f32,
}

impl Geometry {
    fn to_screen(&self, p: [f32; 2]) -> Pos2 {
        self.center + Vec2::new(p[0], p[1]) * self.scale
    }
}

/// `reserve_right`: width kept free on the right for the log table.
pub(super) fn geometry(
    rect: Rect,
    n: usize,
    world: &[[f32; 2]],
    st: &CanvasState,
    reserve_right: f32,
    reserve_bottom: f32,
) -> Geometry {
    let zoom = if st.zoom == 0.0 { 1.0 } else { st.zoom };
    let top_space = 44.0;
    // Room for a caption of two lines (kept when there is none, so nodes do not jump as
    // captions come and go), more for a taller one: the labels under the nodes stay clear.
    let bottom_space = (reserve_bottom + 56.0).max(120.0);
    let usable = Rect::from_min_max(
        rect.min + Vec2::new(0.0, top_space),
        rect.max - Vec2::new(reserve_right, bottom_space),
    );
    // Fit the layout's bounding box (with room for node radii and labels): a circle's ±1
    // box gets 40% of the smaller side, a wide layered layout uses the width it needs.
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for w in world {
        for k in 0..2 {
            lo[k] = lo[k].min(w[k]);
            hi[k] = hi[k].max(w[k]);
        }
    }
    if world.is_empty() {
        (lo, hi) = ([-1.0; 2], [1.0; 2]);
    }
    let (bw, bh) = ((hi[0] - lo[0]).max(0.5), (hi[1] - lo[1]).max(0.5));
    // A wide (layered) layout has labels beside its outer columns: more room at the sides.
    let (margin_x, margin_y) = if bw > 1.5 * bh {
        (1.5, 0.8)
    } else {
        (0.5, 0.5)
    };
    let scale = (usable.width().max(100.0) / (bw + margin_x))
        .min(usable.height().max(100.0) / (bh + margin_y))
        * zoom;
    let middle = Vec2::new(lo[0] + hi[0], lo[1] + hi[1]) / 2.0;
    let center = usable.center() - middle * scale + st.pan;
    // Node radius: about a third of the distance to the nearest neighbour, capped.
    let mut nearest = f32::MAX;
    if n <= 400 {
        for i in 0..n {
            for j in (i + 1)..n {
                let d = ((world[i][0] - world[j][0]).powi(2) + (world[i][1] - world[j][1]).powi(2))
                    .sqrt();
                nearest = nearest.min(d);
            }
        }
    } else {
        nearest = 2.0 / (n as f32).sqrt();
    }
    if nearest == f32::MAX {
        nearest = 1.0;
    }
    let radius = (nearest * scale * 0.32).clamp(3.0, 46.0 * zoom.sqrt());
    Geometry {
        scale,
        center,
        radius,
    }
}

pub(super) fn node_at(g: &Geometry, world: &[[f32; 2]], p: Pos2) -> Option<NodeId> {
    let mut best = None;
    let mut best_d = g.radius.max(8.0) + 4.0;
    for (i, w) in world.iter().enumerate() {
        let d = g.to_screen(*w).distance(p);
        if d < best_d {
            best_d = d;
            best = Some(i);
        }
    }
    best
}

pub(super) fn segment_distance(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
    p.distance(a + ab * t)
}

pub(super) fn font(size: f32, big: bool) -> FontId {
    FontId::proportional(if big { size * 1.15 } else { size })
}

/// What every layer needs to know about this frame's geometry and pointer.
pub(super) struct Frame {
    pub g: Geometry,
    /// Screen position of each node.
    pub pos: Vec<Pos2>,
    pub pointer: Option<Pos2>,
    pub hovered_node: Option<NodeId>,
    pub n: usize,
}

/// What the pointer is over besides a node: a message, a link.
#[derive(Clone, Copy)]
pub(super) struct Hovered<'s> {
    pub msg: Option<&'s MessagePic>,
    pub link: Option<(NodeId, NodeId)>,
}

/// Draws the scene and handles pointer input; returns what the user asked for.
pub fn show(ui: &mut egui::Ui, scene: &Scene, st: &mut CanvasState) -> CanvasInput {
    let (response, painter) = ui.allocate_painter(ui.available_size(), Sense::click_and_drag());
    let rect = response.rect;
    painter.rect_filled(rect, CornerRadius::ZERO, style::CANVAS);
    let n = scene.names.len();
    let g = geometry(
        rect,
        n,
        scene.world,
        st,
        right_column_width(rect, scene),
        overlays::caption_space(&painter, rect, scene),
    );
    let pos: Vec<Pos2> = scene.world.iter().map(|w| g.to_screen(*w)).collect();
    let pointer = response.hover_pos();
    let hovered_node = pointer.and_then(|p| node_at(&g, scene.world, p));
    let f = Frame {
        g,
        pos,
        pointer,
        hovered_node,
        n,
    };
    let hovered_link = links::draw(&painter, scene, st, &f);
    nodes::draw(&painter, scene, st, &f);
    let hovered_msg = messages::draw(&painter, scene, st, &f);
    overlays::draw(&painter, rect, scene);
    overlays::hover(&painter, scene, &f, hovered_msg, hovered_link);
    let hovered = Hovered {
        msg: hovered_msg,
        link: hovered_link,
    };
    input::handle(ui, &response, &painter, scene, st, &f, hovered)
}

/// A point `progress` of the way along a link, between the two nodes' rims (so a message never
/// hides under a node).
pub(super) fn along(from: Pos2, to: Pos2, radius: f32, progress: f32) -> Pos2 {
    let d = to - from;
    let len = d.length();
    if len <= 2.0 * radius + 1.0 {
        return from + d * progress;
    }
    let dir = d / len;
    let a = from + dir * radius;
    let b = to - dir * radius;
    a + (b - a) * progress
}

use overlays::right_column_width;
