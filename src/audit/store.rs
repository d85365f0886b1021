//! The audit tables as SeaORM entities. Only this context reads or writes
//! them; other contexts go through [`super::append`], [`super::AuditWriter`]
//! and [`super::search`].

/// `audit_events`: one row per event, in chain order by `seq`.
pub mod events {
    use sea_orm::entity::prelude::*;

    use crate::audit::event::{ActorType, AuditAction};
    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub seq: i64,
        pub occurred_at: Timestamp,
        pub actor_type: ActorType,
        pub actor_id: Option<Uuid>,
        pub actor_job: Option<String>,
        pub session_id: Option<Uuid>,
        pub action: AuditAction,
        pub resource_type: String,
        pub resource_id: Option<Uuid>,
        pub facility_id: Option<Uuid>,
        pub patient_id: Option<Uuid>,
        /// The CRM lead the event concerns, for its timeline.
        pub lead_id: Option<Uuid>,
        /// JSON text, PHI redacted.
        pub changes: Option<String>,
        pub client_addr: Option<String>,
        pub user_agent: Option<String>,
        pub request_id: Option<String>,
        /// A JSON array of flag names.
        pub compliance_flags: String,
        pub prev_hash: Vec<u8>,
        pub hash: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_chain`: the head of the chain, one row that every append locks.
pub mod chain {
    use sea_orm::entity::prelude::*;

    /// The id of the only row.
    pub const HEAD: i32 = 1;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_chain")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last_seq: i64,
        pub last_hash: Vec<u8>,
        /// The first `seq` whose hash is keyed (HMAC under the audit chain
        /// key); the events before it were written with plain SHA-256.
        pub keyed_from: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
