//! The app's model, free of Bevy so it is tested headless: node layout, the timeline axis,
//! the picture at any instant computed from the trace, and the session (cursor, recorded
//! user actions, forking).

pub mod hunt;
pub mod layout;
pub mod picture;
pub mod plots;
pub mod recording;
pub mod roles;
pub mod session;
pub mod spacetime;
pub mod timeline;
