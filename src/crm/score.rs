//! The lead score (seed 000's `calculate_lead_score`): 0 to 100 points from
//! five factors, each capped, so anyone can see why a lead ranks where it
//! does. The weights favour what predicts a booking in a concierge clinic:
//! how ready the lead says it is, and whether it is talking to us now.
//!
//! | factor | points |
//! |---|---|
//! | readiness | Hot 30, Warm 20, Follow Up 10, Cold 0 |
//! | source | referral or HHQ Complete 15; Lab Purchase 12; a discovery call or web chat 10; HHQ Started 8; Newsletter 5; None 0; any other 5 |
//! | interests | 5 per procedure of interest (at most 3 count), +5 if one is high priority: at most 20 |
//! | engagement | 3 per call (at most 12), 4 per reply (at most 12), 1 per 2 chat messages (at most 6): at most 30 |
//! | recency | the lead's last activity within a day 5, a week 3, a month 1 |

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::leads::{InterestPriority, Readiness};
use crate::time::Timestamp;

/// One factor of a score: how many of its possible points the lead got, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScoreFactor {
    /// `readiness`, `source`, `interests`, `engagement` or `recency`.
    pub factor: String,
    pub points: i32,
    pub max: i32,
    /// What the points were given for, e.g. `readiness Hot`.
    pub detail: String,
}

/// What a score is computed from.
#[derive(Clone, Debug)]
pub struct ScoreInputs<'a> {
    pub readiness: Readiness,
    pub source: &'a str,
    pub interests: &'a [InterestPriority],
    pub calls: i32,
    pub replies: i32,
    pub chat_messages: i32,
    /// The lead's latest own activity (created, replied, chatted).
    pub last_activity: Option<Timestamp>,
}

/// A computed score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score {
    pub total: i32,
    pub factors: Vec<ScoreFactor>,
}

impl Score {
    pub fn factors_json(&self) -> String {
        serde_json::to_string(&self.factors).unwrap_or_else(|_| "[]".to_owned())
    }
}

fn factor(name: &str, points: i32, max: i32, detail: String) -> ScoreFactor {
    ScoreFactor {
        factor: name.to_owned(),
        points: points.min(max),
        max,
        detail,
    }
}

fn source_points(source: &str) -> i32 {
    let source = source.trim().to_ascii_lowercase();
    match source.as_str() {
        "referral" | "hhq complete" => 15,
        "lab purchase" => 12,
        "web chat" | "webchat" => 10,
        s if s.ends_with("discovery call") => 10,
        "hhq started" => 8,
        "newsletter" => 5,
        "none" | "" => 0,
        _ => 5,
    }
}

const DAY_MICROS: i64 = 86_400_000_000;

impl ScoreInputs<'_> {
    pub fn score(&self, now: Timestamp) -> Score {
        let readiness = match self.readiness {
            Readiness::Hot => 30,
            Readiness::Warm => 20,
            Readiness::FollowUp => 10,
            Readiness::Cold => 0,
        };
        let counted = self.interests.len().min(3) as i32;
        let high = self.interests.contains(&InterestPriority::High);
        let interests = counted * 5 + if high { 5 } else { 0 };
        let calls = (self.calls.max(0) * 3).min(12);
        let replies = (self.replies.max(0) * 4).min(12);
        let chat = (self.chat_messages.max(0) / 2).min(6);
        let age_days = self
            .last_activity
            .map(|t| (now.as_micros() - t.as_micros()).max(0) / DAY_MICROS);
        let recency = match age_days {
            Some(0) => 5,
            Some(1..=6) => 3,
            Some(7..=29) => 1,
            _ => 0,
        };
        let factors = vec![
            factor(
                "readiness",
                readiness,
                30,
                format!("readiness {}", self.readiness),
            ),
            factor(
                "source",
                source_points(self.source),
                15,
                format!("source {}", self.source.trim()),
            ),
            factor(
                "interests",
                interests,
                20,
                format!(
                    "{} procedures of interest{}",
                    self.interests.len(),
                    if high { ", one of high priority" } else { "" }
                ),
            ),
            factor(
                "engagement",
                calls + replies + chat,
                30,
                format!(
                    "{} calls, {} replies, {} chat messages",
                    self.calls, self.replies, self.chat_messages
                ),
            ),
            factor(
                "recency",
                recency,
                5,
                match age_days {
                    Some(days) => format!("last activity {days} days ago"),
                    None => "no activity yet".to_owned(),
                },
            ),
        ];
        Score {
            total: factors.iter().map(|f| f.points).sum::<i32>().clamp(0, 100),
            factors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::now()
    }

    fn days_ago(days: i64) -> Timestamp {
        let t = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days);
        Timestamp::from(t)
    }

    #[test]
    fn a_hot_engaged_referral_scores_high_and_says_why() {
        let score = ScoreInputs {
            readiness: Readiness::Hot,
            source: "Referral",
            interests: &[InterestPriority::High, InterestPriority::Low],
            calls: 2,
            replies: 1,
            chat_messages: 7,
            last_activity: Some(now()),
        }
        .score(now());
        let points: Vec<(&str, i32)> = score
            .factors
            .iter()
            .map(|f| (f.factor.as_str(), f.points))
            .collect();
        assert_eq!(
            points,
            [
                ("readiness", 30),
                ("source", 15),
                ("interests", 15),
                ("engagement", 6 + 4 + 3),
                ("recency", 5)
            ]
        );
        assert_eq!(score.total, 30 + 15 + 15 + 13 + 5);
    }

    #[test]
    fn every_factor_is_capped_and_the_total_stays_within_100() {
        let score = ScoreInputs {
            readiness: Readiness::Hot,
            source: "HHQ Complete",
            interests: &[InterestPriority::High; 10],
            calls: 100,
            replies: 100,
            chat_messages: 1000,
            last_activity: Some(now()),
        }
        .score(now());
        assert_eq!(score.total, 100);
        assert!(score.factors.iter().all(|f| f.points <= f.max));
        assert_eq!(score.factors.iter().map(|f| f.max).sum::<i32>(), 100);
    }

    #[test]
    fn a_cold_silent_lead_scores_nothing_and_recency_fades() {
        let inputs = |last| ScoreInputs {
            readiness: Readiness::Cold,
            source: "None",
            interests: &[],
            calls: 0,
            replies: 0,
            chat_messages: 0,
            last_activity: last,
        };
        assert_eq!(inputs(None).score(now()).total, 0);
        assert_eq!(inputs(Some(days_ago(3))).score(now()).total, 3);
        assert_eq!(inputs(Some(days_ago(10))).score(now()).total, 1);
        assert_eq!(inputs(Some(days_ago(40))).score(now()).total, 0);
        assert_eq!(source_points("Social Media Discovery Call"), 10);
        assert_eq!(source_points("billboard"), 5);
    }
}
