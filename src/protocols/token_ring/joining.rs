//! Joining the ring: a node without the token for a whole rotation (restarted, healed, or
//! left out of a regenerated ring) broadcasts `Join`; whoever hears it notes a joiner, and the
//! next holder adds the joiners to the token's members.

use super::{RingTimer, Role, TokenMsg, TokenRing};
use crate::sim::{Ctx, NodeId};

impl TokenRing {
    /// `Join`: the sender is to be added to the ring at this node's next pass.
    pub(super) fn on_join(&mut self, from: NodeId) {
        self.joiners |= 1u128 << from;
    }

    /// No token for a whole rotation: announce this node with `Join`.
    pub(super) fn on_join_timer(&mut self, ctx: &mut Ctx<Self>) {
        let rotation = self.cfg.rotation_max(self.nodes);
        let has_token = self.holds() || self.role == Role::Passing;
        if !has_token && ctx.now.saturating_sub(self.last_token) >= rotation {
            ctx.count("joins", 1);
            ctx.broadcast(TokenMsg::Join);
        }
        ctx.set_timer(RingTimer::Join, rotation);
    }
}
