//! # latchkey
//!
//! The std adapter for [`latchkey_core`]: it supplies what the sans-IO core leaves to its
//! caller — the system clock, OS entropy, a blocking HTTP [`Transport`] (`ureq` + rustls),
//! a crash-safe [`TokenStore`], the RFC 8252 [`LoopbackListener`] and a terminal — and
//! makes no protocol decision of its own (style.md rule 10). [`Client`] is the one loop that
//! drives a [`Session`](latchkey_core::session::Session) through every flow.
//!
//! ```no_run
//! use std::time::Duration;
//! use latchkey::{Client, FileStore, LoopbackListener, Transport};
//! use latchkey_core::session::Config;
//! use latchkey_core::{Client as Registration, Profile};
//!
//! let listener = LoopbackListener::bind(0)?;
//! let profile = Profile::crm("https://portal.crm.example", "https://api.crm.example")?;
//! let registration = Registration::new("my-app", &listener.redirect_uri())?
//!     .with_scope("user-portal:user:*")?;
//! let store = FileStore::new(FileStore::default_dir().unwrap(), "work")?;
//! let mut client = Client::open(Config::new(profile, registration), Transport::default(), store)?;
//! client.login(listener, Duration::from_secs(300), |url| latchkey::open_in_browser(url))?;
//! let token = client.token()?; // refreshed (and stored) first when due
//! # let _ = token;
//! # Ok::<(), latchkey::Error>(())
//! ```
//!
//! The `latchkey` binary built from this crate is the command-line client; `latchkey demo`
//! runs every flow against the testkit's mock server on 127.0.0.1.

pub mod client;
pub mod config;
pub mod error;
pub mod loopback;
pub mod store;
pub mod transport;

pub use client::{BearerToken, Client, Event, MfaSecret, NoUi, Ui, entropy, unix_now};
pub use config::{ConfigFile, ProfileSettings};
pub use error::{Error, StoreProblem};
pub use loopback::{LoopbackListener, open_in_browser};
pub use store::{FileStore, MemoryStore, StoreLock, TokenStore};
pub use transport::{Guard, HostOverride, Reply, Transport, TransportConfig};
