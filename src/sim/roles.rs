//! Node roles: the different kinds of nodes of a system of services (clients, app servers,
//! caches, databases, brokers…).
//!
//! A protocol declares the roles it accepts, in left-to-right drawing order, and how many
//! nodes of each it needs ([`RoleSpec`]). A scenario gives each node one of them
//! (`nodes: Roles([(role: "app", count: 2), (role: "db")])`). Protocols that declare no role
//! (the consensus protocols) run every node in one implicit role, named `""`.
//!
//! Handlers ask the [`RoleTable`] (through `ctx.role(node)` and `ctx.nodes_of("db")`) which
//! node plays which role; members of a role are listed in id order, so any choice made from
//! them is deterministic.

use crate::sim::actor::NodeId;

/// One role a protocol accepts: its name and how many nodes may play it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    pub name: &'static str,
    /// Fewest nodes of this role the protocol can run with.
    pub min: usize,
    /// Most nodes of this role (`usize::MAX`: no limit).
    pub max: usize,
    /// What the role does, for `distsim list` and error messages.
    pub summary: &'static str,
}

impl RoleSpec {
    pub const fn new(name: &'static str, min: usize, max: usize, summary: &'static str) -> Self {
        RoleSpec {
            name,
            min,
            max,
            summary,
        }
    }
}

/// Which node plays which role, and the members of each role in id order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleTable {
    /// Role names in declaration (drawing) order.
    names: Vec<String>,
    /// Index into `names` for every node.
    of_node: Vec<usize>,
    /// Nodes of each role, ascending.
    members: Vec<Vec<NodeId>>,
}

impl RoleTable {
    /// Every node in the one implicit role `""`.
    pub fn implicit(nodes: usize) -> Self {
        RoleTable {
            names: vec![String::new()],
            of_node: vec![0; nodes],
            members: vec![(0..nodes).collect()],
        }
    }

    /// Builds the table from each node's role name; `order` lists the roles in drawing order
    /// (roles of nodes that `order` does not name are appended in order of appearance).
    pub fn new(order: &[&str], node_roles: &[String]) -> Self {
        let mut names: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        let mut of_node = Vec::with_capacity(node_roles.len());
        for r in node_roles {
            let idx = match names.iter().position(|n| n == r) {
                Some(i) => i,
                None => {
                    names.push(r.clone());
                    names.len() - 1
                }
            };
            of_node.push(idx);
        }
        let mut members = vec![Vec::new(); names.len()];
        for (node, &r) in of_node.iter().enumerate() {
            members[r].push(node);
        }
        RoleTable {
            names,
            of_node,
            members,
        }
    }

    /// True when the protocol has no roles (every node in the implicit role).
    pub fn is_implicit(&self) -> bool {
        self.names.len() == 1 && self.names[0].is_empty()
    }
    /// The role of `node` (`""` for protocols without roles or a node out of range).
    pub fn role(&self, node: NodeId) -> &str {
        self.of_node
            .get(node)
            .map_or("", |&r| self.names[r].as_str())
    }
    /// Position of `node`'s role in drawing order (0 for the implicit role).
    pub fn rank(&self, node: NodeId) -> usize {
        self.of_node.get(node).copied().unwrap_or(0)
    }
    /// The nodes of `role`, in id order (empty for an unknown role).
    pub fn nodes_of(&self, role: &str) -> &[NodeId] {
        self.names
            .iter()
            .position(|n| n == role)
            .map_or(&[][..], |i| &self.members[i])
    }
    /// Role names in drawing order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn len(&self) -> usize {
        self.of_node.len()
    }
    pub fn is_empty(&self) -> bool {
        self.of_node.is_empty()
    }
}

/// Checks each node's role against what the protocol accepts. Returns the message for a
/// located error: an unknown role (listing the accepted ones) or a count out of bounds.
pub fn check_roles(
    protocol: &str,
    accepted: &[RoleSpec],
    node_roles: &[Option<String>],
) -> Result<(), RoleError> {
    let listing = || {
        accepted
            .iter()
            .map(|r| format!("`{}`", r.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if accepted.is_empty() {
        if let Some((i, Some(r))) = node_roles.iter().enumerate().find(|(_, r)| r.is_some()) {
            return Err(RoleError::Unknown {
                node: i,
                role: r.clone(),
                message: format!(
                    "protocol `{protocol}` has no node roles, so `{r}` cannot be used: give nodes as Count(n) or Named([...]) without `role`"
                ),
            });
        }
        return Ok(());
    }
    for (i, r) in node_roles.iter().enumerate() {
        match r {
            None => {
                return Err(RoleError::Missing {
                    node: i,
                    message: format!(
                        "protocol `{protocol}` needs a role for every node: expected one of {} (write `nodes: Roles([(role: \"{}\", count: 2), ...])` or `role:` in Named)",
                        listing(),
                        accepted[0].name
                    ),
                });
            }
            Some(r) if !accepted.iter().any(|a| a.name == r) => {
                return Err(RoleError::Unknown {
                    node: i,
                    role: r.clone(),
                    message: format!(
                        "unknown role `{r}` for protocol `{protocol}`: expected one of {}",
                        listing()
                    ),
                });
            }
            Some(_) => {}
        }
    }
    for a in accepted {
        let n = node_roles
            .iter()
            .filter(|r| r.as_deref() == Some(a.name))
            .count();
        if n < a.min || n > a.max {
            let want = if a.max == usize::MAX {
                format!("at least {}", a.min)
            } else if a.min == a.max {
                format!("exactly {}", a.min)
            } else {
                format!("between {} and {}", a.min, a.max)
            };
            return Err(RoleError::Count {
                role: a.name.to_string(),
                message: format!(
                    "protocol `{protocol}` needs {want} `{}` node{} ({}), got {n}",
                    a.name,
                    if a.min == 1 && a.max == 1 { "" } else { "s" },
                    a.summary
                ),
            });
        }
    }
    Ok(())
}

/// Why a scenario's roles do not fit its protocol; the scenario layer locates it.
#[derive(Clone, Debug, PartialEq)]
pub enum RoleError {
    Missing {
        node: usize,
        message: String,
    },
    Unknown {
        node: usize,
        role: String,
        message: String,
    },
    Count {
        role: String,
        message: String,
    },
}

impl RoleError {
    pub fn message(&self) -> &str {
        match self {
            RoleError::Missing { message, .. }
            | RoleError::Unknown { message, .. }
            | RoleError::Count { message, .. } => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &[RoleSpec] = &[
        RoleSpec::new("client", 0, usize::MAX, "issues requests"),
        RoleSpec::new("app", 1, usize::MAX, "serves requests"),
        RoleSpec::new("db", 1, 1, "stores the data"),
    ];

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn members_are_listed_in_id_order_and_roles_in_declaration_order() {
        let roles: Vec<String> = ["db", "app", "client", "app"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = RoleTable::new(&["client", "app", "db"], &roles);
        assert_eq!(t.nodes_of("app"), &[1, 3]);
        assert_eq!(t.nodes_of("db"), &[0]);
        assert_eq!(t.nodes_of("cache"), &[] as &[usize]);
        assert_eq!(t.role(2), "client");
        assert_eq!(t.rank(0), 2);
        assert!(!t.is_implicit());
        assert!(RoleTable::implicit(3).is_implicit());
        assert_eq!(RoleTable::implicit(3).nodes_of(""), &[0, 1, 2]);
    }

    #[test]
    fn an_unknown_role_lists_the_accepted_ones() {
        let e = check_roles("tiers", ROLES, &some(&["app", "dbx"])).unwrap_err();
        assert!(
            e.message().contains(
                "unknown role `dbx` for protocol `tiers`: expected one of `client`, `app`, `db`"
            ),
            "{}",
            e.message()
        );
    }

    #[test]
    fn a_missing_role_and_bad_counts_are_refused() {
        let mut v = some(&["app", "db"]);
        v.push(None);
        assert!(matches!(
            check_roles("tiers", ROLES, &v),
            Err(RoleError::Missing { node: 2, .. })
        ));
        let e = check_roles("tiers", ROLES, &some(&["app", "db", "db"])).unwrap_err();
        assert!(
            e.message().contains("exactly 1 `db` node"),
            "{}",
            e.message()
        );
        let e = check_roles("tiers", ROLES, &some(&["db"])).unwrap_err();
        assert!(e.message().contains("at least 1 `app`"), "{}", e.message());
        assert!(check_roles("tiers", ROLES, &some(&["client", "app", "db"])).is_ok());
    }

    #[test]
    fn protocols_without_roles_refuse_role_names_and_accept_none() {
        assert!(check_roles("raft", &[], &[None, None]).is_ok());
        let e = check_roles("raft", &[], &some(&["db"])).unwrap_err();
        assert!(e.message().contains("has no node roles"), "{}", e.message());
    }
}
