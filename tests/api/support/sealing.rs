//! Checks that what must be sealed is: no marker of personal data appears
//! in the database's bytes on disk.

use sea_orm::{ConnectionTrait, Statement};

use super::{TestApp, TestBackend};

/// Fails naming the first of `phi` that appears in `bytes` (a scan of the
/// database files from [`TestApp::raw_database_bytes`]).
pub fn assert_no_plaintext(bytes: &[u8], phi: &[&str]) {
    for value in phi {
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "`{value}` is stored in clear text"
        );
    }
}

impl TestApp {
    /// Every byte of the database as stored: the SQLite files, or the
    /// PostgreSQL tables' files read by the server.
    pub async fn raw_database_bytes(&self, backend: TestBackend) -> Vec<u8> {
        let db = self.state.db.conn();
        match backend {
            TestBackend::Sqlite => {
                let url = &self._db.url;
                let path = url.trim_start_matches("sqlite://");
                let mut bytes = Vec::new();
                for suffix in ["", "-wal"] {
                    if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                        bytes.extend(b);
                    }
                }
                bytes
            }
            TestBackend::Postgres => {
                let pg = sea_orm::DbBackend::Postgres;
                db.execute_unprepared("CHECKPOINT").await.unwrap();
                let tables = db
                    .query_all_raw(Statement::from_string(
                        pg,
                        "SELECT pg_relation_filepath(c.oid) AS path FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 't') \
                     AND pg_relation_filepath(c.oid) IS NOT NULL",
                    ))
                    .await
                    .unwrap();
                let mut bytes = Vec::new();
                for row in tables {
                    let path: String = row.try_get("", "path").unwrap();
                    let file = db
                        .query_one_raw(Statement::from_sql_and_values(
                            pg,
                            "SELECT pg_read_binary_file($1) AS content",
                            [path.into()],
                        ))
                        .await
                        .unwrap()
                        .unwrap();
                    bytes.extend(file.try_get::<Vec<u8>>("", "content").unwrap());
                }
                bytes
            }
        }
    }
}
