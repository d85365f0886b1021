//! The loader: layers, keys, secrets, and sections with their flat aliases.
use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_listen_on_localhost_8080_with_sqlite_in_data_dir() {
    let config = Config::load(None, env(&[])).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.database_url().expose(),
        "sqlite://./carebase-data/carebase.db"
    );
    assert_eq!(
        config.master_key_path(),
        PathBuf::from("./carebase-data/master.key")
    );
}

#[test]
fn environment_overrides_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carebase.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7000\"\nlog_level = \"debug\"\nhttp_body_limit_bytes = 2048\n",
    )
    .unwrap();
    let config = Config::load(
        Some(&file),
        env(&[
            ("CAREBASE_LISTEN", "127.0.0.1:9000"),
            (
                "CAREBASE_CORS_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(config.log_level, "debug");
    assert_eq!(config.http_body_limit_bytes, 2048);
    assert_eq!(
        config.cors_allowed_origins,
        vec!["https://a.example", "https://b.example"]
    );
}

#[test]
fn carebase_database_url_wins_over_database_url() {
    let config = Config::load(
        None,
        env(&[
            ("DATABASE_URL", "postgres://a@h/one"),
            ("CAREBASE_DATABASE_URL", "postgres://a@h/two"),
        ]),
    )
    .unwrap();
    assert_eq!(config.database_url().expose(), "postgres://a@h/two");
    let config = Config::load(None, env(&[("DATABASE_URL", "postgres://a@h/one")])).unwrap();
    assert_eq!(config.database_url().expose(), "postgres://a@h/one");
}

#[test]
fn unknown_variables_and_keys_are_refused() {
    let err = Config::load(None, env(&[("CAREBASE_LISTN", "x")])).unwrap_err();
    assert!(err.to_string().contains("CAREBASE_LISTN"), "{err}");
    assert!(err.to_string().contains("CAREBASE_LISTEN"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let err = Config::load(Some(&file), env(&[])).unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");
}

#[test]
fn test_and_config_variables_are_not_settings() {
    Config::load(
        None,
        env(&[
            ("CAREBASE_TEST_POSTGRES_URL", "postgres://x"),
            ("CAREBASE_CONFIG", "/nowhere"),
        ]),
    )
    .unwrap();
}

#[test]
fn bad_values_name_their_key() {
    let err = Config::load(None, env(&[("CAREBASE_LISTEN", "not-an-address")])).unwrap_err();
    assert!(err.to_string().contains("listen"), "{err}");
    let err = Config::load(None, env(&[("CAREBASE_DB_MAX_CONNECTIONS", "0")])).unwrap_err();
    assert!(err.to_string().contains("db_max_connections"), "{err}");
    let err = Config::load(None, env(&[("CAREBASE_DATABASE_URL", "mysql://x/y")])).unwrap_err();
    assert!(err.to_string().contains("mysql"), "{err}");
    let err = Config::load(None, env(&[("CAREBASE_LOG_FORMAT", "xml")])).unwrap_err();
    assert!(err.to_string().contains("xml"), "{err}");
}

#[test]
fn database_url_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-url");
    std::fs::write(&file, "postgres://app:s3cret@db/carebase\n").unwrap();
    let config = Config::load(
        None,
        env(&[("CAREBASE_DATABASE_URL_FILE", file.to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(
        config.database_url().expose(),
        "postgres://app:s3cret@db/carebase"
    );
}

#[test]
fn masked_output_hides_passwords() {
    assert_eq!(
        mask_url("postgres://app:s3cret@db:5432/carebase"),
        "postgres://app:****@db:5432/carebase"
    );
    assert_eq!(
        mask_url("postgres://db/carebase?user=app&password=s3cret"),
        "postgres://db/carebase?user=app&password=****"
    );
    assert_eq!(mask_url("sqlite://./x.db"), "sqlite://./x.db");
    let config = Config::load(
        None,
        env(&[("DATABASE_URL", "postgres://app:s3cret@db/carebase")]),
    )
    .unwrap();
    let shown = config.to_masked_toml();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("postgres://app:****@db/carebase"), "{shown}");
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn a_password_with_an_unencoded_slash_is_still_masked() {
    let shown = mask_url("postgres://app:pa/ss@db.internal:5432/carebase");
    assert_eq!(shown, "postgres://app:****@db.internal:5432/carebase");
    assert_eq!(
        mask_url("sqlite:///srv/data@2026/carebase.db"),
        "sqlite:///srv/data@2026/carebase.db"
    );
    assert_eq!(
        mask_url("postgres://app@db/carebase"),
        "postgres://app:****@db/carebase"
    );
}

#[test]
fn example_file_parses_and_lists_every_key() {
    let example = include_str!("../../carebase.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.toml");
    std::fs::write(&file, example).unwrap();
    Config::load(Some(&file), env(&[])).unwrap();
    for key in Config::keys() {
        // A section's key is documented inside its table.
        let documented = match key.split_once('.') {
            Some((section, leaf)) => example
                .split(&format!("\n[{section}]\n"))
                .nth(1)
                .and_then(|table| table.split("\n[").next())
                .is_some_and(|table| table.contains(&format!("{leaf} ="))),
            None => example.contains(&format!("{key} =")),
        };
        assert!(
            documented,
            "carebase.example.toml does not document `{key}`"
        );
    }
}

/// A section for testing the loader, whatever the contexts declare.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
struct Demo {
    poll_secs: u64,
    token: Option<SecretString>,
    relay_url: Option<SecretString>,
    names: Vec<String>,
}

impl Default for Demo {
    fn default() -> Self {
        Self {
            poll_secs: 30,
            token: None,
            relay_url: None,
            names: vec!["a".to_owned()],
        }
    }
}

impl Settings for Demo {
    const SECTION: &'static str = "demo";
    const SECRETS: &'static [Secret] = &[
        Secret {
            key: "token",
            mask: Mask::Whole,
        },
        Secret {
            key: "relay_url",
            mask: Mask::Url,
        },
    ];
    const FLAT_ALIASES: &'static [&'static str] = &["poll_secs", "token"];

    fn validate(&self) -> Result<(), Invalid> {
        if self.poll_secs == 0 {
            return Err(Invalid::new("poll_secs", "must be at least 1"));
        }
        Ok(())
    }
}

fn load_demo(toml: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carebase.toml");
    if let Some(toml) = toml {
        std::fs::write(&file, toml).unwrap();
    }
    let file = toml.map(|_| file.as_path());
    Config::load_sections(file, env(vars), vec![Section::of::<Demo>()])
}

#[test]
fn a_section_is_a_toml_table_and_double_underscore_variables() {
    let config = load_demo(
        Some("listen = \"127.0.0.1:7000\"\n[demo]\npoll_secs = 7\n"),
        &[],
    )
    .unwrap();
    assert_eq!(config.section::<Demo>().poll_secs, 7);
    assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let config = load_demo(
        Some("[demo]\npoll_secs = 7\n"),
        &[
            ("CAREBASE_DEMO__POLL_SECS", "9"),
            ("CAREBASE_DEMO__NAMES", "x,y"),
        ],
    )
    .unwrap();
    assert_eq!(
        config.section::<Demo>().poll_secs,
        9,
        "the environment wins"
    );
    assert_eq!(config.section::<Demo>().names, vec!["x", "y"]);
    assert_eq!(
        load_demo(None, &[]).unwrap().section::<Demo>().into_owned(),
        Demo::default()
    );
}

#[test]
fn a_flat_alias_still_works_and_warns_with_the_new_name() {
    let config = load_demo(None, &[("CAREBASE_POLL_SECS", "5")]).unwrap();
    assert_eq!(config.section::<Demo>().poll_secs, 5);
    assert_eq!(
        config.warnings,
        vec!["CAREBASE_POLL_SECS is deprecated: rename it CAREBASE_DEMO__POLL_SECS"]
    );

    let config = load_demo(Some("poll_secs = 6\n"), &[]).unwrap();
    assert_eq!(config.section::<Demo>().poll_secs, 6);
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("`demo.poll_secs`"),
        "{:?}",
        config.warnings
    );
    assert!(
        config.warnings[0].contains("[demo]"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_new_name_beats_its_alias_and_the_warning_says_so() {
    let config = load_demo(
        None,
        &[
            ("CAREBASE_POLL_SECS", "5"),
            ("CAREBASE_DEMO__POLL_SECS", "8"),
        ],
    )
    .unwrap();
    assert_eq!(config.section::<Demo>().poll_secs, 8);
    assert_eq!(
        config.warnings,
        vec![
            "CAREBASE_POLL_SECS is deprecated and ignored: \
             CAREBASE_DEMO__POLL_SECS is set too, and wins"
        ]
    );

    let config = load_demo(Some("poll_secs = 5\n[demo]\npoll_secs = 8\n"), &[]).unwrap();
    assert_eq!(config.section::<Demo>().poll_secs, 8);
    assert!(
        config.warnings[0].contains("ignored"),
        "{:?}",
        config.warnings
    );
    assert!(
        config.warnings[0].contains("`demo.poll_secs`"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn a_bad_value_in_a_section_names_the_full_key() {
    let err = load_demo(Some("[demo]\npoll_secs = 0\n"), &[]).unwrap_err();
    assert_eq!(err.to_string(), "demo.poll_secs: must be at least 1");
    let err = load_demo(None, &[("CAREBASE_POLL_SECS", "0")]).unwrap_err();
    assert_eq!(err.to_string(), "demo.poll_secs: must be at least 1");
    let err = load_demo(None, &[("CAREBASE_DEMO__POLL_SECS", "soon")]).unwrap_err();
    assert!(err.to_string().contains("demo.poll_secs"), "{err}");
    let err = load_demo(Some("[demo]\npol_secs = 1\n"), &[]).unwrap_err();
    assert!(err.to_string().contains("demo.pol_secs"), "{err}");
    let err = load_demo(None, &[("CAREBASE_DEMO__POL_SECS", "1")]).unwrap_err();
    assert!(
        err.to_string().contains("CAREBASE_DEMO__POLL_SECS"),
        "{err}"
    );
    let err = load_demo(Some("[dmeo]\npoll_secs = 1\n"), &[]).unwrap_err();
    assert!(err.to_string().contains("dmeo"), "{err}");
}

#[test]
fn section_secrets_are_masked_and_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken-s3cret\n").unwrap();
    let path = token.to_str().unwrap();
    let relay = ("CAREBASE_DEMO__RELAY_URL", "smtp://me:pa55@relay.example");
    let config = load_demo(None, &[("CAREBASE_DEMO__TOKEN_FILE", path), relay]).unwrap();
    let demo = config.section::<Demo>();
    assert_eq!(
        demo.token.as_ref().map(SecretString::expose),
        Some("t0ken-s3cret")
    );
    let shown = config.to_masked_toml();
    assert!(shown.contains("[demo]\n"), "{shown}");
    assert!(shown.contains("token = \"****\""), "{shown}");
    assert!(
        shown.contains("relay_url = \"smtp://me:****@relay.example\""),
        "{shown}"
    );
    assert!(
        !shown.contains("s3cret") && !shown.contains("pa55"),
        "{shown}"
    );
    assert!(!format!("{config:?}").contains("s3cret"));

    // The flat alias of a secret brings its `_file` form along.
    let config = load_demo(None, &[("CAREBASE_TOKEN_FILE", path)]).unwrap();
    let demo = config.section::<Demo>();
    assert_eq!(
        demo.token.as_ref().map(SecretString::expose),
        Some("t0ken-s3cret")
    );
    assert!(config.warnings[0].contains("CAREBASE_DEMO__TOKEN_FILE"));

    let err = load_demo(
        Some(&format!("[demo]\ntoken_file = \"{path}\"\n")),
        &[("CAREBASE_DEMO__TOKEN", "x")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "set demo.token or demo.token_file, not both"
    );
}

#[test]
fn every_context_section_is_named_once_and_its_aliases_are_not_kernel_keys() {
    let kernel = Config::kernel_keys();
    let mut names = Vec::new();
    for section in section::all() {
        assert!(!names.contains(&section.name()), "{}", section.name());
        assert!(
            !kernel.iter().any(|k| k == section.name()),
            "{}",
            section.name()
        );
        names.push(section.name());
        for alias in section.aliases() {
            assert!(!kernel.contains(&alias), "{alias}");
            assert!(section.keys().contains(&alias), "{alias}");
        }
    }
    assert!(Config::default().section::<Demo>().poll_secs == 30);
}
