//! The states and labels of a lead: its lifecycle (a state machine), its
//! readiness, its clinical review and how much each interest matters.

use crate::transition::{StateMachine, string_enum};

string_enum! {
    /// Where a lead stands (seed 000's `lead_status`).
    LeadStatus {
        New => "new",
        Contacted => "contacted",
        Qualified => "qualified",
        Booked => "booked",
        Completed => "completed",
        NoShow => "no_show",
        Archived => "archived",
        Disqualified => "disqualified",
    }
}

impl StateMachine for LeadStatus {
    const ENTITY: &'static str = "lead";

    fn next(self) -> &'static [Self] {
        use LeadStatus::*;
        match self {
            New => &[Contacted, Archived, Disqualified],
            Contacted => &[Qualified, Archived, Disqualified],
            Qualified => &[Booked, Archived, Disqualified],
            Booked => &[Completed, NoShow, Archived, Disqualified],
            Completed | NoShow | Archived | Disqualified => &[],
        }
    }
}

impl LeadStatus {
    /// Still being worked: not completed, a no-show, archived or disqualified.
    pub fn is_open(self) -> bool {
        !self.next().is_empty()
    }

    pub const OPEN: [LeadStatus; 4] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Booked,
    ];
}

string_enum! {
    /// How ready the lead is to buy (seed 001's `lead_readiness`).
    Readiness as "LeadReadiness" {
        Cold => "Cold",
        Warm => "Warm",
        Hot => "Hot",
        FollowUp => "Follow Up",
    }
}

string_enum! {
    /// Seed 000's clinical review of a lead before it is booked.
    ReviewStatus {
        NotRequired => "not_required",
        Pending => "pending",
        Approved => "approved",
        Declined => "declined",
    }
}

string_enum! {
    /// How much a procedure of interest matters to the lead.
    InterestPriority {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_exactly_the_seed_moves() {
        use LeadStatus::*;
        let allowed = [
            (New, Contacted),
            (Contacted, Qualified),
            (Qualified, Booked),
            (Booked, Completed),
            (Booked, NoShow),
        ];
        for from in LeadStatus::ALL {
            for to in LeadStatus::ALL {
                let closes = from.is_open() && matches!(to, Archived | Disqualified);
                let expected = closes || allowed.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
        let refused = New.transition(Booked).unwrap_err();
        assert_eq!(refused.allowed, ["contacted", "archived", "disqualified"]);
    }

    #[test]
    fn seed_spellings_parse() {
        assert_eq!(Readiness::parse("Follow Up"), Some(Readiness::FollowUp));
        assert_eq!(serde_json::to_value(LeadStatus::NoShow).unwrap(), "no_show");
        assert_eq!(Readiness::ALL.len(), 4);
    }
}
