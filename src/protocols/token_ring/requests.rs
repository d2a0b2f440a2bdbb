//! Client requests and the critical section: a request waits until the token arrives; the
//! holder serves every waiting request in one critical section and answers them on leaving it.

use super::{RingTimer, Role, TokenRing};
use crate::sim::{ClientReply, ClientRequest, Ctx, Op};

impl TokenRing {
    /// A client asks for the critical section: served at once by an idle holder, else queued.
    pub(super) fn on_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if !matches!(req.op, Op::Request(_)) {
            let reason = "the token ring serves Request operations only".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        }
        ctx.count("requests", 1);
        self.pending.push((req.from, ctx.now));
        if self.role == (Role::Holding { in_cs: false }) {
            ctx.cancel_timer(RingTimer::Pass);
            self.enter_cs(ctx);
        }
    }

    pub(super) fn enter_cs(&mut self, ctx: &mut Ctx<Self>) {
        self.role = Role::Holding { in_cs: true };
        self.serving = self.pending.drain(..).map(|(r, _)| r).collect();
        self.cs_entries += 1;
        self.cs_timer = (ctx.now, ctx.now + self.cfg.cs_time);
        ctx.count("cs_entries", 1);
        ctx.set_timer(RingTimer::Pass, self.cfg.cs_time);
    }

    pub(super) fn exit_cs(&mut self, ctx: &mut Ctx<Self>) {
        let g = self.token.map_or(0, |t| t.generation);
        for r in std::mem::take(&mut self.serving) {
            let value = Some(format!("critical section at n{} (g{g})", ctx.id + 1));
            ctx.reply_to_client(r, ClientReply::Ok { value });
        }
        self.role = Role::Holding { in_cs: false };
    }
}
