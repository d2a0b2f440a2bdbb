//! Colours and sizes, chosen to read well on a projector (high contrast on a dark ground).

use crate::sim::Tone;
use bevy_egui::egui::Color32;

pub const BACKGROUND: Color32 = Color32::from_rgb(0x1b, 0x1e, 0x26);
pub const CANVAS: Color32 = Color32::from_rgb(0x14, 0x16, 0x1c);
pub const TEXT: Color32 = Color32::from_rgb(0xec, 0xee, 0xf2);
pub const TEXT_DIM: Color32 = Color32::from_rgb(0x9a, 0xa1, 0xae);
pub const LINK: Color32 = Color32::from_rgb(0x3a, 0x40, 0x4e);
pub const CUT: Color32 = Color32::from_rgb(0xff, 0x4d, 0x4d);
pub const CRASHED: Color32 = Color32::from_rgb(0x4a, 0x4d, 0x55);
pub const SELECTED: Color32 = Color32::from_rgb(0xff, 0xff, 0xff);
pub const VIOLATION: Color32 = Color32::from_rgb(0xff, 0x2e, 0x63);
pub const CAPTION_BG: Color32 = Color32::from_rgba_premultiplied(10, 12, 16, 225);

pub fn tone(t: Tone) -> Color32 {
    match t {
        Tone::Leader => Color32::from_rgb(0xff, 0x8c, 0x1a),
        Tone::Candidate => Color32::from_rgb(0x4d, 0xab, 0xf7),
        Tone::Follower => Color32::from_rgb(0x5c, 0x7c, 0x99),
        Tone::Good => Color32::from_rgb(0x40, 0xc0, 0x57),
        Tone::Warning => Color32::from_rgb(0xee, 0xdc, 0x5b),
        Tone::Bad => Color32::from_rgb(0xe0, 0x31, 0x31),
        Tone::Neutral => Color32::from_rgb(0x6c, 0x75, 0x85),
    }
}

/// Message colours by kind index, distinct hues that stay apart from the node tones.
const KINDS: [Color32; 10] = [
    Color32::from_rgb(0x4d, 0xd0, 0xe1),
    Color32::from_rgb(0xff, 0x87, 0x87),
    Color32::from_rgb(0xb1, 0x97, 0xfc),
    Color32::from_rgb(0x8c, 0xe9, 0x9a),
    Color32::from_rgb(0xff, 0xd4, 0x3b),
    Color32::from_rgb(0xf7, 0x83, 0xac),
    Color32::from_rgb(0x74, 0xc0, 0xfc),
    Color32::from_rgb(0xff, 0xa9, 0x4d),
    Color32::from_rgb(0xe5, 0x99, 0xf7),
    Color32::from_rgb(0xc0, 0xeb, 0x75),
];

pub fn kind_color(kinds: &[&str], kind: &str) -> Color32 {
    let i = kinds.iter().position(|k| *k == kind).unwrap_or(kinds.len());
    KINDS[i % KINDS.len()]
}

/// Log entries are coloured by term, cycling through a palette.
const TERMS: [Color32; 8] = [
    Color32::from_rgb(0x74, 0xc0, 0xfc),
    Color32::from_rgb(0xff, 0xa9, 0x4d),
    Color32::from_rgb(0x8c, 0xe9, 0x9a),
    Color32::from_rgb(0xe5, 0x99, 0xf7),
    Color32::from_rgb(0xff, 0xd4, 0x3b),
    Color32::from_rgb(0x63, 0xe6, 0xbe),
    Color32::from_rgb(0xff, 0x87, 0x87),
    Color32::from_rgb(0xa5, 0xd8, 0xff),
];

pub fn term_color(term: u64) -> Color32 {
    TERMS[(term as usize) % TERMS.len()]
}

/// Partition groups are shaded with these (translucent).
pub fn group_color(i: usize) -> Color32 {
    const G: [Color32; 4] = [
        Color32::from_rgba_premultiplied(40, 80, 140, 70),
        Color32::from_rgba_premultiplied(140, 80, 30, 70),
        Color32::from_rgba_premultiplied(40, 120, 60, 70),
        Color32::from_rgba_premultiplied(120, 40, 120, 70),
    ];
    G[i % G.len()]
}

pub fn with_alpha(c: Color32, a: f32) -> Color32 {
    Color32::from_rgba_unmultiplied(c.r(), c.g(), c.b(), (a.clamp(0.0, 1.0) * 255.0) as u8)
}

/// Line colours of the Plots panel, by line number.
pub fn series_color(i: usize) -> Color32 {
    const PALETTE: [Color32; 6] = [
        Color32::from_rgb(0x4d, 0xab, 0xf7),
        Color32::from_rgb(0xff, 0x92, 0x2b),
        Color32::from_rgb(0x69, 0xdb, 0x7c),
        Color32::from_rgb(0xf7, 0x83, 0xac),
        Color32::from_rgb(0xda, 0x77, 0xf2),
        Color32::from_rgb(0xff, 0xe0, 0x66),
    ];
    PALETTE[i % PALETTE.len()]
}
