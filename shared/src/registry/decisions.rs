//! `dec#<M>` / `<decided_at>#<0|1>#<version>#<action>` in `gras_state`: the decision history of a
//! metric's versions (contract v2 §6), one row per decision, written in the same
//! transaction as the status change it records (so the history never misses one), listed
//! newest first by the API (`GET /v1/models/{metric}`) and the CLI (`gras models`).

use super::*;

/// What a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `PendingApproval` -> `Approved` (by a person or the policy).
    Approve,
    /// `PendingApproval` -> `Rejected`.
    Reject,
    /// `Approved` -> `Archived`: replaced by a newer approval, or rolled back from.
    Archive,
    /// `Archived` -> `Approved`: a rollback re-approved it.
    Rollback,
    /// The policy left a new version `PendingApproval` for a person (the status is
    /// unchanged; the reason says why).
    Hold,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Archive => "archive",
            Action::Rollback => "rollback",
            Action::Hold => "hold",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "archive" => Action::Archive,
            "rollback" => Action::Rollback,
            "hold" => Action::Hold,
            _ => return None,
        })
    }
}

/// One recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// The version decided on.
    pub version: ModelVersion,
    /// What was done.
    pub action: Action,
    /// Its status after the decision.
    pub status: ModelStatus,
    /// Who or what decided (`policy`, a person's identity, `api-token`).
    pub by: String,
    /// Why.
    pub reason: String,
    /// When (RFC 3339 UTC).
    pub at: DateTime<Utc>,
    /// For `approve` and `rollback`: the version that was approved until then.
    pub replaced: Option<ModelVersion>,
}

const A_ACTION: &str = "action";
const A_STATUS: &str = "status";
const A_BY: &str = "by";
const A_REASON: &str = "reason";
const A_AT: &str = "at";
const A_REPLACED: &str = "replaced";

fn pk(metric: &MetricId) -> String {
    format!("dec#{metric}")
}

impl DecisionRecord {
    /// The `gras_state` item of this decision on `metric`.
    pub fn to_item(&self, metric: &MetricId) -> Item {
        let at = self.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut i = Item::new();
        i.insert("pk".into(), Attr::S(pk(metric)));
        // Within one instant (one transaction), the archive of the replaced version sorts
        // before the decision that caused it, so newest-first lists the cause first.
        let order = u8::from(self.action != Action::Archive);
        i.insert(
            "sk".into(),
            Attr::S(format!(
                "{at}#{order}#{}#{}",
                self.version,
                self.action.as_str()
            )),
        );
        i.insert(attr::VERSION.into(), Attr::S(self.version.to_string()));
        i.insert(A_ACTION.into(), Attr::S(self.action.as_str().into()));
        i.insert(A_STATUS.into(), Attr::S(self.status.as_str().into()));
        i.insert(A_BY.into(), Attr::S(self.by.clone()));
        i.insert(A_REASON.into(), Attr::S(self.reason.clone()));
        i.insert(A_AT.into(), Attr::S(at));
        if let Some(r) = &self.replaced {
            i.insert(A_REPLACED.into(), Attr::S(r.to_string()));
        }
        i
    }

    /// Reads a row written by [`DecisionRecord::to_item`]; `None` for anything else.
    pub fn from_item(i: &Item) -> Option<Self> {
        let s = |k: &str| i.get(k).and_then(Attr::as_s);
        Some(Self {
            version: ModelVersion::new(s(attr::VERSION)?).ok()?,
            action: Action::parse(s(A_ACTION)?)?,
            status: ModelStatus::parse(s(A_STATUS)?)?,
            by: s(A_BY)?.to_string(),
            reason: s(A_REASON)?.to_string(),
            at: DateTime::parse_from_rfc3339(s(A_AT)?)
                .ok()?
                .with_timezone(&Utc),
            replaced: s(A_REPLACED).and_then(|v| ModelVersion::new(v).ok()),
        })
    }

    /// The transaction step that records it (unconditional: its key is new).
    pub(super) fn op(&self, metric: &MetricId) -> TxOp {
        TxOp::Put {
            table: STATE,
            item: self.to_item(metric),
            condition: Condition::Always,
        }
    }
}

/// Every decision on a metric's versions, newest first.
pub async fn decisions(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Vec<DecisionRecord>, RegistryError> {
    let items = crate::storage::table::query_all(t, &STATE, &Query::all(pk(metric))).await?;
    let mut out: Vec<DecisionRecord> = items.iter().filter_map(DecisionRecord::from_item).collect();
    out.reverse();
    Ok(out)
}

/// Records that the policy left `version` pending, and why.
pub async fn record_hold(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &ModelVersion,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), RegistryError> {
    let d = DecisionRecord {
        version: version.clone(),
        action: Action::Hold,
        status: ModelStatus::PendingApproval,
        by: "policy".into(),
        reason: reason.into(),
        at: now,
        replaced: None,
    };
    t.put(&STATE, d.to_item(metric), Condition::Always).await?;
    Ok(())
}
