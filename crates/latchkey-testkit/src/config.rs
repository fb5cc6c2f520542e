//! Server configuration: base URLs, lifetimes, registered clients and users.
//!
//! [`ServerConfig::default()`] registers the clients and users named by the constants in this
//! module, so a test can sign in without any setup.

/// Default CRM client-portal base URL (the `/login` page lives under it).
pub const CRM_PORTAL: &str = "https://portal.crm.example";
/// Default CRM API base URL (`/oauth/token`, `/oauth/revoke`, `/oauth/mfa/*`, `/oauth/forget`).
pub const CRM_API: &str = "https://api.crm.example";
/// Default RFC 6749 issuer (`/authorize`, `/token`, `/revoke`, `/device_authorization`).
pub const ISSUER: &str = "https://as.example";
/// Default Kommo consent page URL.
pub const KOMMO_CONSENT_URL: &str = "https://www.kommo.com/oauth";
/// Default Kommo account host: the `referer` sent on the callback.
pub const KOMMO_ACCOUNT_HOST: &str = "example.kommo.com";

/// CRM confidential client id (registered with [`CRM_CLIENT_SECRET`]).
pub const CRM_CLIENT_ID: &str = "crm-confidential-app";
/// Secret of [`CRM_CLIENT_ID`]; sent raw in `Authorization: Basic base64(id:secret)`.
pub const CRM_CLIENT_SECRET: &str = "crm-app-secret-0123456789";
/// CRM public client id (no secret: PKCE only, no `Authorization` header).
pub const CRM_PUBLIC_CLIENT_ID: &str = "crm-public-spa";
/// Redirect URI registered for both CRM clients.
pub const CRM_REDIRECT_URI: &str = "https://app.example/crm/callback";
/// The scope the CRM portal grants to client-portal users.
pub const CRM_SCOPE: &str = "user-portal:user:*";

/// Kommo integration id.
pub const KOMMO_CLIENT_ID: &str = "0b6e4b0a-7c1d-4f5e-9a3b-5d2c8e1f4a60";
/// Kommo integration secret (sent in the JSON body of the token request).
pub const KOMMO_CLIENT_SECRET: &str =
    "kommoSecretAbcdefGhijklMnopqrStuvwxYz0123456789ABCDEFGHIJKLMNOP";
/// Redirect URI registered for the Kommo integration.
pub const KOMMO_REDIRECT_URI: &str = "https://integration.example/kommo/callback";

/// RFC 6749 public client id (authentication method `none`).
pub const RFC_PUBLIC_CLIENT_ID: &str = "rfc-public-cli";
/// RFC 6749 confidential client id (authentication method `client_secret_basic`).
pub const RFC_CONFIDENTIAL_CLIENT_ID: &str = "rfc-confidential:web";
/// Secret of [`RFC_CONFIDENTIAL_CLIENT_ID`]. It holds characters that RFC 6749 §2.3.1
/// form-urlencoding changes (space, `+`, `/`, `%`, `:`, non-ASCII), and the id holds a `:`, so a
/// client that skips the encoding is refused.
pub const RFC_CONFIDENTIAL_CLIENT_SECRET: &str = "s3cr3t +/%:£";
/// RFC 6749 confidential client id that authenticates with `client_secret_post`.
pub const RFC_POST_CLIENT_ID: &str = "rfc-confidential-post";
/// Secret of [`RFC_POST_CLIENT_ID`].
pub const RFC_POST_CLIENT_SECRET: &str = "post-secret&x=1";
/// Redirect URI registered for the RFC 6749 clients.
pub const RFC_REDIRECT_URI: &str = "https://client.example/cb";
/// Loopback redirect URI registered for every client; any port matches (RFC 8252 §7.3).
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A user without MFA (the default "logged in" browser user).
pub const USER_ALICE: &str = "alice";
/// Password of [`USER_ALICE`].
pub const ALICE_PASSWORD: &str = "alice-password";
/// A user with authenticator (TOTP) MFA enabled; secret [`BOB_TOTP_SECRET`].
pub const USER_BOB: &str = "bob";
/// Password of [`USER_BOB`].
pub const BOB_PASSWORD: &str = "bob-password";
/// TOTP secret of [`USER_BOB`] (the RFC 6238 App. B SHA-1 key).
pub const BOB_TOTP_SECRET: &[u8] = b"12345678901234567890";
/// A user with email MFA enabled.
pub const USER_CAROL: &str = "carol";
/// Password of [`USER_CAROL`].
pub const CAROL_PASSWORD: &str = "carol-password";
/// A user whose MFA is enforced but not yet bound (must call `/oauth/mfa/secret` + `bind`).
pub const USER_DAVE: &str = "dave";
/// Password of [`USER_DAVE`].
pub const DAVE_PASSWORD: &str = "dave-password";

/// Which protocol dialect a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Plain RFC 6749 / 7636 / 7009 / 8628 (form-encoded requests).
    Rfc6749,
    /// CRM Open API "Client OAuth" (JSON requests, raw Basic auth, PHP-style JSON escaping).
    Crm,
    /// Kommo (JSON requests with the secret in the body, per-account token host).
    Kommo,
}

/// How a client authenticates at the RFC 6749 token, revocation and device endpoints.
///
/// CRM clients always use raw Basic auth when they have a secret; Kommo clients always send
/// the secret in the JSON body. This setting matters for the RFC 6749 dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// Public client: `client_id` in the body, no secret.
    None,
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` + `client_secret` in the form body.
    ClientSecretPost,
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The client identifier.
    pub client_id: String,
    /// The secret; `None` makes the client public.
    pub secret: Option<String>,
    /// Registered redirect URIs. Compared exactly, except that for `http://127.0.0.1`,
    /// `http://[::1]` and `http://localhost` URIs the port is ignored (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// The dialect the client speaks (an endpoint of another dialect refuses it).
    pub dialect: Dialect,
    /// Authentication method required at the RFC 6749 endpoints.
    pub auth_method: ClientAuthMethod,
}

impl ClientRegistration {
    /// A public client of `dialect` with the given redirect URIs.
    pub fn public(client_id: &str, dialect: Dialect, redirect_uris: &[&str]) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret: None,
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            dialect,
            auth_method: ClientAuthMethod::None,
        }
    }

    /// A confidential client of `dialect`; RFC 6749 clients default to `client_secret_basic`.
    pub fn confidential(
        client_id: &str,
        secret: &str,
        dialect: Dialect,
        redirect_uris: &[&str],
    ) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret: Some(secret.to_owned()),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            dialect,
            auth_method: ClientAuthMethod::ClientSecretBasic,
        }
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
    }
}

/// A user's multi-factor authentication state (CRM password grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaState {
    /// No MFA: the password grant answers with tokens directly.
    Disabled,
    /// MFA is enforced but nothing is bound yet: the password grant answers
    /// "Multi-factor authentication required"; the client must fetch a secret and bind.
    SetupRequired,
    /// Authenticator app: RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30 s) with this raw secret.
    Authenticator {
        /// The raw (not base32) TOTP key.
        secret: Vec<u8>,
    },
    /// One-time codes sent by email (`/oauth/mfa/email/send`).
    Email,
}

impl MfaState {
    /// Whether MFA is bound and active (`Authenticator` or `Email`).
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Authenticator { .. } | Self::Email)
    }
}

/// A resource owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name (CRM: usually an email address).
    pub username: String,
    /// The password (password grant only).
    pub password: String,
    /// MFA state.
    pub mfa: MfaState,
}

impl User {
    /// A user with the given MFA state.
    pub fn new(username: &str, password: &str, mfa: MfaState) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
            mfa,
        }
    }
}

/// A Kommo account: its host name (the callback `referer`) and the base URL its token endpoint
/// is served under. By default the base URL is `https://{host}`; a test that serves the server
/// on loopback maps the host to e.g. `http://127.0.0.1:8080/kommo-account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KommoAccount {
    /// Host name, e.g. `example.kommo.com`.
    pub host: String,
    /// Base URL; the token endpoint is `{base_url}/oauth2/access_token`.
    pub base_url: String,
}

impl KommoAccount {
    /// An account served at `https://{host}`.
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            base_url: format!("https://{host}"),
        }
    }
}

/// Everything the server is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// CRM client-portal base URL (default [`CRM_PORTAL`]).
    pub crm_portal: String,
    /// CRM API base URL (default [`CRM_API`]).
    pub crm_api: String,
    /// RFC 6749 issuer base URL (default [`ISSUER`]); also the `iss` callback value.
    pub issuer: String,
    /// Kommo consent page URL (default [`KOMMO_CONSENT_URL`]).
    pub kommo_consent_url: String,
    /// Kommo accounts that serve a token endpoint (default: [`KOMMO_ACCOUNT_HOST`]).
    pub kommo_accounts: Vec<KommoAccount>,
    /// Account host the logged-in user consents from: the callback `referer`.
    pub kommo_referer: String,
    /// Authorization code lifetime for CRM and RFC 6749 (default 600 s).
    pub code_lifetime: u64,
    /// Authorization code lifetime for Kommo (default 20 min).
    pub kommo_code_lifetime: u64,
    /// Access token lifetime (`expires_in`, default 3600 s).
    pub access_token_lifetime: u64,
    /// Kommo access token lifetime (default 86 400 s, as Kommo issues).
    pub kommo_access_token_lifetime: u64,
    /// Refresh token lifetime (default 30 days).
    pub refresh_token_lifetime: u64,
    /// CRM `mfa_token` lifetime (default 600 s).
    pub mfa_token_lifetime: u64,
    /// Email OTP lifetime (default 300 s).
    pub email_otp_lifetime: u64,
    /// Device code lifetime (default 1800 s, as in RFC 8628 §3.2).
    pub device_code_lifetime: u64,
    /// Minimum device polling interval (default 5 s).
    pub device_interval: u64,
    /// Scopes the CRM portal accepts (default [`CRM_SCOPE`]).
    pub crm_scopes: Vec<String>,
    /// Whether the CRM parent page echoes `state` in its postMessage reply (default true).
    pub crm_postmessage_echo_state: bool,
    /// The user who is "logged in" in the browser and consents automatically.
    pub browser_user: String,
    /// Registered clients.
    pub clients: Vec<ClientRegistration>,
    /// Users.
    pub users: Vec<User>,
    /// Seed for the server's deterministic token generator.
    pub seed: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let loopback = LOOPBACK_REDIRECT_URI;
        let mut rfc_post = ClientRegistration::confidential(
            RFC_POST_CLIENT_ID,
            RFC_POST_CLIENT_SECRET,
            Dialect::Rfc6749,
            &[RFC_REDIRECT_URI, loopback],
        );
        rfc_post.auth_method = ClientAuthMethod::ClientSecretPost;
        Self {
            crm_portal: CRM_PORTAL.to_owned(),
            crm_api: CRM_API.to_owned(),
            issuer: ISSUER.to_owned(),
            kommo_consent_url: KOMMO_CONSENT_URL.to_owned(),
            kommo_accounts: vec![KommoAccount::new(KOMMO_ACCOUNT_HOST)],
            kommo_referer: KOMMO_ACCOUNT_HOST.to_owned(),
            code_lifetime: 600,
            kommo_code_lifetime: 20 * 60,
            access_token_lifetime: 3600,
            kommo_access_token_lifetime: 86_400,
            refresh_token_lifetime: 30 * 86_400,
            mfa_token_lifetime: 600,
            email_otp_lifetime: 300,
            device_code_lifetime: 1800,
            device_interval: 5,
            crm_scopes: vec![CRM_SCOPE.to_owned()],
            crm_postmessage_echo_state: true,
            browser_user: USER_ALICE.to_owned(),
            clients: vec![
                ClientRegistration::confidential(
                    CRM_CLIENT_ID,
                    CRM_CLIENT_SECRET,
                    Dialect::Crm,
                    &[CRM_REDIRECT_URI, loopback],
                ),
                ClientRegistration::public(
                    CRM_PUBLIC_CLIENT_ID,
                    Dialect::Crm,
                    &[CRM_REDIRECT_URI, loopback],
                ),
                {
                    let mut kommo = ClientRegistration::confidential(
                        KOMMO_CLIENT_ID,
                        KOMMO_CLIENT_SECRET,
                        Dialect::Kommo,
                        &[KOMMO_REDIRECT_URI],
                    );
                    kommo.auth_method = ClientAuthMethod::ClientSecretPost;
                    kommo
                },
                ClientRegistration::public(
                    RFC_PUBLIC_CLIENT_ID,
                    Dialect::Rfc6749,
                    &[RFC_REDIRECT_URI, loopback],
                ),
                ClientRegistration::confidential(
                    RFC_CONFIDENTIAL_CLIENT_ID,
                    RFC_CONFIDENTIAL_CLIENT_SECRET,
                    Dialect::Rfc6749,
                    &[RFC_REDIRECT_URI, loopback],
                ),
                rfc_post,
            ],
            users: vec![
                User::new(USER_ALICE, ALICE_PASSWORD, MfaState::Disabled),
                User::new(
                    USER_BOB,
                    BOB_PASSWORD,
                    MfaState::Authenticator {
                        secret: BOB_TOTP_SECRET.to_vec(),
                    },
                ),
                User::new(USER_CAROL, CAROL_PASSWORD, MfaState::Email),
                User::new(USER_DAVE, DAVE_PASSWORD, MfaState::SetupRequired),
            ],
            seed: 0x6c61_7463_686b_6579,
        }
    }
}
