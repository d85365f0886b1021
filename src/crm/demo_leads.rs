//! The leads of crm's demo, simulated one by one from the run's generator:
//! a year of leads from every source, moved through their lifecycle and the
//! default pipeline with the history of each move, first contacts after
//! plausible delays, interests, clinical reviews, and a few conversions.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;

use super::history::{self, Move};
use super::lead_sources::SourceChoice;
use super::leads::{
    self, Interest, InterestPriority, LeadStatus, NewLead, Placement, Readiness, ReviewStatus,
};
use super::score::ScoreInputs;
use crate::care::demo::DemoConversion;
use crate::crypto::{DataKey, RowSealer};
use crate::demo::Generator;
use crate::time::Timestamp;

pub(super) const SECOND: i64 = 1_000_000;
pub(super) const MINUTE: i64 = 60 * SECOND;
pub(super) const HOUR: i64 = 60 * MINUTE;
pub(super) const DAY: i64 = 24 * HOUR;

/// Seed 001's sources, web chat and referrals, with how often each brings
/// a lead, and the median minutes to a first contact.
const SOURCES: [(&str, u32, f64); 10] = [
    ("HHQ Complete", 10, 30.0),
    ("HHQ Started", 12, 120.0),
    ("Lab Purchase", 8, 60.0),
    ("Marek Health Discovery Call", 6, 20.0),
    ("Newsletter Discovery Call", 6, 25.0),
    ("Social Media Discovery Call", 10, 25.0),
    ("Newsletter", 14, 360.0),
    ("None", 6, 720.0),
    ("Web Chat", 16, 4.0),
    ("Referral", 12, 45.0),
];

const FIRST_NAMES: [&str; 32] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Mia", "Levi", "Amelia", "Ezra", "Harper", "Asher", "Evelyn", "James", "Luna", "Leo", "Camila",
    "Kai", "Aria", "Mason", "Nora", "Ethan", "Zoe", "Jack", "Layla", "Owen", "Priya", "Hiro",
];
const LAST_NAMES: [&str; 32] = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Patel",
    "Brown",
    "Kim",
    "Williams",
    "Lopez",
    "Jones",
    "Chen",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Okafor",
    "Silva",
];
const PROCEDURES: [&str; 10] = [
    "Rhinoplasty",
    "Blepharoplasty",
    "Facelift",
    "Breast augmentation",
    "Liposuction",
    "Abdominoplasty",
    "Botox",
    "Dermal fillers",
    "Testosterone therapy",
    "Hormone panel",
];
const NOTES: [&str; 6] = [
    "Prefers evening calls",
    "Asked about financing options",
    "Travelling for the procedure; needs hotel information",
    "Had a consultation elsewhere last year",
    "Wants the earliest available date",
    "Spouse will join the consultation",
];
const OUTCOMES: [&str; 5] = [
    "Left voicemail",
    "No answer",
    "Spoke with lead",
    "Booked consultation",
    "Not interested",
];
const LEAD_TYPES: [&str; 3] = ["Consultation", "Procedure", "Lab work"];

/// Makes the leads, batch after batch, from the run's generator.
pub(super) struct Loader<'a> {
    pub facility_id: Uuid,
    pub key: &'a DataKey,
    pub pipeline_id: Uuid,
    pub stages: Vec<Uuid>,
    /// Who owns leads (SDRs and staff), with how fast they reach them.
    pub owners: Vec<(Uuid, f64)>,
    pub coaches: Vec<Uuid>,
    pub reviewer: Option<Uuid>,
    pub admin: Option<Uuid>,
    pub rng: &'a mut Generator,
    pub now: i64,
    pub total: usize,
    /// Completed leads become patients until there are this many.
    pub patient_target: usize,
    /// The leads converted so far, for care to make their patients.
    pub conversions: Vec<DemoConversion>,
}

/// One transaction's rows.
pub(super) struct Batch {
    pub leads: Vec<leads::ActiveModel>,
    pub interests: Vec<leads::interest::ActiveModel>,
    pub moves: Vec<history::ActiveModel>,
}

/// A lead's life as simulated: its moves so far, and where they left it.
struct Life {
    now: i64,
    at: i64,
    status: LeadStatus,
    stage: usize,
    moves: Vec<(i64, Move)>,
}

impl Life {
    fn status(&mut self, at: i64, to: LeadStatus) {
        self.moves.push((at, Move::status(Some(self.status), to)));
        self.status = to;
        self.at = at;
    }

    /// Moves stage by stage up to `to`, minutes apart.
    fn stage(&mut self, stages: &[Uuid], to: usize) {
        while self.stage < to && self.at + 10 * MINUTE < self.now {
            let (Some(from), Some(next)) = (stages.get(self.stage), stages.get(self.stage + 1))
            else {
                return;
            };
            self.at += 10 * MINUTE;
            self.moves.push((self.at, Move::stage(Some(*from), *next)));
            self.stage += 1;
        }
    }
}

/// What happened to a lead: its life, first contact, coach, review and
/// conversion.
struct Story {
    life: Life,
    contacted: Option<i64>,
    coach: Option<Uuid>,
    review: (ReviewStatus, Option<i64>),
    converted: Option<i64>,
}

/// How much a lead was worked, and when it last changed.
struct Activity {
    calls: i32,
    replies: i32,
    chat: i32,
    last_contacted: Option<i64>,
    last_activity: i64,
    updated: i64,
}

/// Who a lead is and where it came from, drawn before it is sealed.
struct Drawn {
    i: usize,
    id: Uuid,
    created: i64,
    source: &'static str,
    readiness: Readiness,
    owner: Option<(Uuid, f64)>,
}

impl Loader<'_> {
    pub(super) fn batch(&mut self, range: std::ops::Range<usize>) -> Batch {
        let mut batch = Batch {
            leads: Vec::with_capacity(range.len()),
            interests: Vec::new(),
            moves: Vec::new(),
        };
        for i in range {
            self.lead(i, &mut batch);
        }
        batch
    }

    /// Simulates and seals lead number `i`.
    fn lead(&mut self, i: usize, batch: &mut Batch) {
        let span = 365 * DAY;
        let slot = span as f64 / self.total as f64;
        let created = self.now - span + ((i as f64 + self.rng.unit()) * slot) as i64;
        let id = self.rng.id_at(created);
        let source = self.rng.weighted(SOURCES.iter().map(|s| s.1));
        let (source, _, median_minutes) = SOURCES[source];
        let owner = if self.rng.chance(0.93) && !self.owners.is_empty() {
            Some(*self.rng.pick(&self.owners))
        } else {
            None
        };
        let readiness = Readiness::ALL[self.rng.weighted([40, 30, 15, 15].into_iter())];
        let drawn = Drawn {
            i,
            id,
            created,
            source,
            readiness,
            owner,
        };
        let story = self.simulate(&drawn, median_minutes);
        let activity = self.activity(&drawn, &story);
        let (new, interests) = self.new_lead(&drawn, &story);
        let mut row = self.seal(&drawn, &story, &activity, &new, &interests);
        let actor = owner.map(|o| o.0).or(self.admin);
        if let Some(converted_at) = story.converted {
            self.convert(
                &drawn,
                &story,
                &new,
                actor.unwrap_or_default(),
                converted_at,
            );
        }
        for mut interest in leads::seal_interests(self.key, id, &interests) {
            // A fresh id sealed with the row would not open: keep the one
            // the interest was sealed under, date it with the lead.
            interest.created_at = ActiveValue::Set(Timestamp::from_micros(created));
            batch.interests.push(interest);
        }
        self.moves(&drawn, story.life.moves, actor, batch);
        row.updated_at = ActiveValue::Set(Timestamp::from_micros(activity.updated));
        batch.leads.push(row);
    }

    /// The lead's lifecycle: first contact after a delay that depends on
    /// its source and owner, then qualification, review, booking and the
    /// visit, each with a chance; leads left open for weeks mostly close.
    fn simulate(&mut self, drawn: &Drawn, median_minutes: f64) -> Story {
        let mut story = Story {
            life: Life {
                now: self.now,
                at: drawn.created,
                status: LeadStatus::New,
                stage: 0,
                moves: Vec::new(),
            },
            contacted: None,
            coach: None,
            review: (ReviewStatus::NotRequired, None),
            converted: None,
        };
        let speed = drawn.owner.map(|o| o.1).unwrap_or(4.0);
        let delay = (median_minutes * speed * MINUTE as f64 * self.rng.normal().exp()) as i64;
        let first_contact = drawn.created + delay.max(SECOND);
        if self.rng.chance(0.88) && first_contact < self.now {
            story.contacted = Some(first_contact);
            story.life.status(first_contact, LeadStatus::Contacted);
            if self.rng.chance(0.5) {
                story.life.stage(&self.stages, 1);
            }
            if self.advance(&mut story.life, 0.55, DAY, 6 * DAY) {
                self.qualified(&mut story);
            }
        }
        let life = &mut story.life;
        if life.status.is_open() && self.now - life.at > 21 * DAY && self.rng.chance(0.75) {
            let at = life.at + self.rng.between(7 * DAY, 21 * DAY);
            let to = if self.rng.chance(0.65) {
                LeadStatus::Archived
            } else {
                LeadStatus::Disqualified
            };
            if to == LeadStatus::Disqualified
                && story.review.0 == ReviewStatus::Pending
                && self.rng.chance(0.5)
            {
                story.review = (ReviewStatus::Declined, Some(at - HOUR));
            }
            life.status(at, to);
        }
        if story.review.1.is_some_and(|t| t > self.now) {
            story.review = (ReviewStatus::Pending, None);
        }
        story
    }

    /// A qualified lead: reviewed, booked with a coach, seen or not, and a
    /// few of the completed ones converted.
    fn qualified(&mut self, story: &mut Story) {
        let life = &mut story.life;
        life.status(life.at, LeadStatus::Qualified);
        life.stage(&self.stages, if self.rng.chance(0.5) { 2 } else { 1 });
        story.review = (ReviewStatus::Pending, None);
        if !self.advance(life, 0.6, DAY, 8 * DAY) {
            if self.rng.chance(0.4) {
                story.review = (ReviewStatus::Approved, Some(life.at + DAY));
            }
            return;
        }
        story.review = (ReviewStatus::Approved, Some(life.at - HOUR));
        life.status(life.at, LeadStatus::Booked);
        life.stage(&self.stages, if self.rng.chance(0.8) { 4 } else { 3 });
        story.coach = (!self.coaches.is_empty()).then(|| *self.rng.pick(&self.coaches));
        if self.advance(life, 0.85, 3 * DAY, 21 * DAY) {
            if self.rng.chance(0.8) {
                life.status(life.at, LeadStatus::Completed);
                life.stage(&self.stages, 4);
                if self.conversions.len() < self.patient_target && self.rng.chance(0.25) {
                    story.converted = Some(life.at + HOUR);
                }
            } else {
                life.status(life.at, LeadStatus::NoShow);
            }
        }
    }

    fn activity(&mut self, drawn: &Drawn, story: &Story) -> Activity {
        let created = drawn.created;
        let calls = story.contacted.map_or(0, |_| 1 + self.rng.below(5) as i32);
        let replies = story.contacted.map_or(0, |_| self.rng.below(4) as i32);
        let chat = if drawn.source == "Web Chat" {
            2 + self.rng.below(30) as i32
        } else {
            0
        };
        let last_move = story.life.at.max(created);
        let last_contacted = story.contacted.map(|first| {
            if calls > 1 {
                self.rng.between(first, last_move.max(first) + 1)
            } else {
                first
            }
        });
        let last_activity = if replies > 0 || chat > 0 {
            self.rng.between(created, last_move + 1)
        } else {
            created
        };
        Activity {
            calls,
            replies,
            chat,
            last_contacted,
            last_activity,
            updated: last_move.max(last_contacted.unwrap_or(created)),
        }
    }

    /// Who the lead is, what it is interested in, and its notes.
    fn new_lead(&mut self, drawn: &Drawn, story: &Story) -> (NewLead, Vec<Interest>) {
        let i = drawn.i;
        let first_name = *self.rng.pick(&FIRST_NAMES);
        let last_name = *self.rng.pick(&LAST_NAMES);
        let has_phone = self.rng.chance(0.85);
        let interests: Vec<Interest> = if self.rng.chance(0.45) {
            (0..1 + self.rng.below(3))
                .map(|_| Interest {
                    procedure: (*self.rng.pick(&PROCEDURES)).to_owned(),
                    notes: None,
                    priority: InterestPriority::ALL[self.rng.weighted([30, 50, 20].into_iter())],
                })
                .collect()
        } else {
            Vec::new()
        };
        let new = NewLead {
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: Some(format!(
                "{}.{}.{i}@example.test",
                first_name.to_lowercase(),
                last_name.to_lowercase()
            )),
            phone: has_phone.then(|| format!("+1 555 {i:07}")),
            source: Some(drawn.source.to_owned()),
            readiness: Some(drawn.readiness),
            outcome: story
                .contacted
                .map(|_| (*self.rng.pick(&OUTCOMES)).to_owned()),
            lead_type: Some((*self.rng.pick(&LEAD_TYPES)).to_owned()),
            owner_id: drawn.owner.map(|o| o.0),
            health_coach_id: story.coach,
            notes: self
                .rng
                .chance(0.3)
                .then(|| (*self.rng.pick(&NOTES)).to_owned()),
            interests: interests.clone(),
            pipeline_id: None,
            stage_id: None,
        };
        (new, interests)
    }

    /// The sealed row, placed, scored and dated as its story left it.
    fn seal(
        &self,
        drawn: &Drawn,
        story: &Story,
        activity: &Activity,
        new: &NewLead,
        interests: &[Interest],
    ) -> leads::ActiveModel {
        let placement = Placement {
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_at(story.life.stage),
            owner_id: drawn.owner.map(|o| o.0),
            // The demo draws from the default catalogue.
            source: SourceChoice::Listed(drawn.source.to_owned()),
        };
        let created_by = drawn.owner.map(|o| o.0).or(self.admin).unwrap_or_default();
        let at = Timestamp::from_micros;
        let mut row = leads::seal_new(
            self.key,
            drawn.id,
            self.facility_id,
            new,
            placement,
            created_by,
            at(drawn.created),
        );
        let priorities: Vec<InterestPriority> = interests.iter().map(|i| i.priority).collect();
        // Scored as of its last change: since then its recency has faded,
        // as it would have on a real server until the next rescore.
        let score = ScoreInputs {
            readiness: drawn.readiness,
            source: drawn.source,
            interests: &priorities,
            calls: activity.calls,
            replies: activity.replies,
            chat_messages: activity.chat,
            last_activity: Some(at(activity.last_activity)),
        }
        .score(at(activity.updated));
        row.status = ActiveValue::Set(story.life.status.as_str().to_owned());
        row.number_of_calls = ActiveValue::Set(activity.calls);
        row.replies = ActiveValue::Set(activity.replies);
        row.chat_messages = ActiveValue::Set(activity.chat);
        row.first_contacted_at = ActiveValue::Set(story.contacted.map(at));
        row.last_contacted_at = ActiveValue::Set(activity.last_contacted.map(at));
        row.last_activity_at = ActiveValue::Set(Some(at(activity.last_activity)));
        row.score = ActiveValue::Set(score.total);
        row.score_factors = ActiveValue::Set(score.factors_json());
        row.review_status = ActiveValue::Set(story.review.0.as_str().to_owned());
        if let Some(reviewed) = story.review.1 {
            row.reviewed_by = ActiveValue::Set(self.reviewer);
            row.reviewed_at = ActiveValue::Set(Some(at(reviewed)));
            if story.review.0 == ReviewStatus::Declined {
                let seal = RowSealer::new(self.key, leads::TABLE, drawn.id);
                row.review_reason = ActiveValue::Set(Some(
                    seal.text("review_reason", "Contraindicated: anticoagulants"),
                ));
            }
        }
        row
    }

    /// The lead's stage at `position`, or the first stage.
    fn stage_at(&self, position: usize) -> Uuid {
        let first = self.stages.first().copied().unwrap_or_default();
        self.stages.get(position).copied().unwrap_or(first)
    }

    /// Records the lead's conversion, for care to make the patient (its
    /// name and contacts are the lead's; the rest care draws from `seed`).
    fn convert(&mut self, drawn: &Drawn, story: &Story, new: &NewLead, created_by: Uuid, at: i64) {
        let patient_id = self.rng.id_at(at);
        let seed = self.rng.draw();
        self.conversions.push(DemoConversion {
            number: self.conversions.len() + 1,
            lead_id: drawn.id,
            patient_id,
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            phone: new.phone.clone(),
            email: new.email.clone(),
            coach: story.coach,
            created_by: story.coach.unwrap_or(created_by),
            at: Timestamp::from_micros(at),
            seed,
        });
    }

    /// The lead's history: its creation, then each move of its story.
    fn moves(
        &mut self,
        drawn: &Drawn,
        moves: Vec<(i64, Move)>,
        actor: Option<Uuid>,
        batch: &mut Batch,
    ) {
        let first = Move {
            to_status: Some(LeadStatus::New),
            to_stage: Some(self.stage_at(0)),
            ..Move::default()
        };
        for (when, change) in std::iter::once((drawn.created, first)).chain(moves) {
            batch.moves.push(history::ActiveModel {
                id: ActiveValue::Set(self.rng.id_at(when)),
                lead_id: ActiveValue::Set(drawn.id),
                from_status: ActiveValue::Set(change.from_status.map(|s| s.as_str().to_owned())),
                to_status: ActiveValue::Set(change.to_status.map(|s| s.as_str().to_owned())),
                from_stage_id: ActiveValue::Set(change.from_stage),
                to_stage_id: ActiveValue::Set(change.to_stage),
                actor_id: ActiveValue::Set(actor),
                occurred_at: ActiveValue::Set(Timestamp::from_micros(when)),
                cause: ActiveValue::Set(None),
                cause_id: ActiveValue::Set(None),
            });
        }
    }

    /// Moves the lead's clock on by a random gap in `[low, high)` with
    /// probability `p`, if that is not in the future.
    fn advance(&mut self, life: &mut Life, p: f64, low: i64, high: i64) -> bool {
        let next = life.at + self.rng.between(low, high);
        if self.rng.chance(p) && next < self.now {
            life.at = next;
            true
        } else {
            false
        }
    }
}
