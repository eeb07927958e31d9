//! Route and table stages, and the transitions allowed between them.
//!
//! A stage only moves along the migration path or back towards the monolith.
//! Tools change stages through [`RouteStage::transition`] and
//! [`TableStage::transition`], so none can step a table from `monolith`
//! straight to `decommissioned`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who answers a route's requests.
///
/// Forward moves go one step at a time, except that `shadow` may be skipped
/// (`monolith → canary`). Any move back towards the monolith is allowed,
/// because a rollback must always be possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteStage {
    /// The monolith answers.
    Monolith,
    /// The monolith answers; a copy of the request goes to the service.
    Shadow,
    /// `percent` of the requests go to the service, the rest to the monolith.
    Canary,
    /// The service answers; the monolith remains as a fallback.
    Live,
}

/// Who owns a table's data.
///
/// Forward moves go one step at a time, except that `strangler cutover`
/// moves a table from `syncing` to `owned` in one save (its fences and
/// drain happen outside the plan, recorded in the service's database).
/// Backward moves are the rollbacks that lose nothing: `syncing → monolith`
/// (stop syncing), `cutover → syncing` (abort a cutover), `owned → syncing`
/// (`strangler rollback`) and `owned → cutover`. `decommissioned` is final:
/// the monolith's copy is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableStage {
    /// The monolith owns the table, and nothing syncs.
    Monolith,
    /// CDC runs from the monolith to the service, which only reads.
    Syncing,
    /// Writes are fenced while the service catches up.
    Cutover,
    /// The service writes; reverse sync keeps the monolith's copy current.
    Owned,
    /// The monolith's copy has been archived or dropped.
    Decommissioned,
}

/// A stage change that the migration path does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move {kind} from `{from}` to `{to}`; from `{from}` it can go to {allowed}")]
pub struct TransitionError {
    /// `"route"` or `"table"`.
    pub kind: &'static str,
    /// The current stage.
    pub from: String,
    /// The requested stage.
    pub to: String,
    /// The stages that are allowed from `from`, as a readable list.
    pub allowed: String,
}

/// A stage name that is not one of the known stages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} stage `{name}`; expected one of: {expected}")]
pub struct UnknownStage {
    /// `"route"` or `"table"`.
    pub kind: &'static str,
    /// The name that was given.
    pub name: String,
    /// The known stage names.
    pub expected: String,
}

macro_rules! stage_common {
    ($ty:ident, $kind:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every stage, in migration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stage's name as written in the plan.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The stages this one may move to, in migration order.
            #[must_use]
            pub fn next_stages(self) -> Vec<$ty> {
                Self::ALL.iter().copied().filter(|&to| self.can_transition_to(to)).collect()
            }

            /// Checks a move to `to` and returns `to` if it is allowed.
            pub fn transition(self, to: $ty) -> Result<$ty, TransitionError> {
                if self.can_transition_to(to) {
                    Ok(to)
                } else {
                    let allowed: Vec<$ty> =
                        self.next_stages().into_iter().filter(|&s| s != self).collect();
                    Err(TransitionError {
                        kind: $kind,
                        from: self.to_string(),
                        to: to.to_string(),
                        allowed: if allowed.is_empty() {
                            "nothing (it is final)".to_owned()
                        } else {
                            allowed.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                        },
                    })
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownStage;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(UnknownStage {
                        kind: $kind,
                        name: s.to_owned(),
                        expected: [$($name),+].join(", "),
                    }),
                }
            }
        }
    };
}

stage_common!(RouteStage, "route", [
    Monolith => "monolith",
    Shadow => "shadow",
    Canary => "canary",
    Live => "live",
]);

stage_common!(TableStage, "table", [
    Monolith => "monolith",
    Syncing => "syncing",
    Cutover => "cutover",
    Owned => "owned",
    Decommissioned => "decommissioned",
]);

impl RouteStage {
    /// Whether a route may move from `self` to `to`. Staying put is allowed.
    #[must_use]
    pub fn can_transition_to(self, to: RouteStage) -> bool {
        use RouteStage::{Canary, Live, Monolith, Shadow};
        // Any move back towards the monolith (or staying) is a rollback.
        self >= to
            || matches!(
                (self, to),
                (Monolith, Shadow | Canary) | (Shadow, Canary) | (Canary, Live)
            )
    }

    /// Whether the service receives any of the route's traffic at this stage
    /// (a shadow copy counts).
    #[must_use]
    pub fn needs_service(self) -> bool {
        self != RouteStage::Monolith
    }
}

impl TableStage {
    /// Whether a table may move from `self` to `to`. Staying put is allowed.
    #[must_use]
    pub fn can_transition_to(self, to: TableStage) -> bool {
        use TableStage::{Cutover, Decommissioned, Monolith, Owned, Syncing};
        self == to
            || matches!(
                (self, to),
                (Monolith, Syncing)
                    | (Syncing, Cutover | Owned | Monolith)
                    | (Cutover, Owned | Syncing)
                    | (Owned, Decommissioned | Cutover | Syncing)
            )
    }

    /// Whether data moves between the monolith's and the service's database
    /// at this stage, so both database URLs are needed.
    #[must_use]
    pub fn needs_databases(self) -> bool {
        matches!(
            self,
            TableStage::Syncing | TableStage::Cutover | TableStage::Owned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(expect: &str) {
        let got: Vec<String> = TableStage::ALL
            .iter()
            .map(|from| {
                let to: Vec<_> = from.next_stages().iter().map(|s| s.as_str()).collect();
                format!("{from} -> {}", to.join(" "))
            })
            .collect();
        assert_eq!(got.join("\n") + "\n", expect);
    }

    #[test]
    fn table_transitions() {
        table(
            "monolith -> monolith syncing\n\
             syncing -> monolith syncing cutover owned\n\
             cutover -> syncing cutover owned\n\
             owned -> syncing cutover owned decommissioned\n\
             decommissioned -> decommissioned\n",
        );
    }

    #[test]
    fn route_transitions() {
        let got: Vec<String> = RouteStage::ALL
            .iter()
            .map(|from| {
                let to: Vec<_> = from.next_stages().iter().map(|s| s.as_str()).collect();
                format!("{from} -> {}", to.join(" "))
            })
            .collect();
        assert_eq!(
            got,
            [
                "monolith -> monolith shadow canary",
                "shadow -> monolith shadow canary",
                "canary -> monolith shadow canary live",
                "live -> monolith shadow canary live",
            ]
        );
    }

    #[test]
    fn monolith_cannot_jump_to_decommissioned() {
        let err = TableStage::Monolith
            .transition(TableStage::Decommissioned)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move table from `monolith` to `decommissioned`; from `monolith` it can go to `syncing`"
        );
    }

    #[test]
    fn decommissioned_is_final() {
        let err = TableStage::Decommissioned
            .transition(TableStage::Owned)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move table from `decommissioned` to `owned`; from `decommissioned` it can go to nothing (it is final)"
        );
        assert_eq!(
            TableStage::Decommissioned.next_stages(),
            [TableStage::Decommissioned]
        );
    }

    #[test]
    fn names_round_trip() {
        for s in RouteStage::ALL {
            assert_eq!(s.as_str().parse::<RouteStage>(), Ok(*s));
        }
        for s in TableStage::ALL {
            assert_eq!(s.as_str().parse::<TableStage>(), Ok(*s));
        }
        let err = "cannary".parse::<RouteStage>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown route stage `cannary`; expected one of: monolith, shadow, canary, live"
        );
    }
}
