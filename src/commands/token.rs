//! `kubeup token create|list|delete|generate` on a control-plane node, through its admin.conf.

use std::path::PathBuf;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::CommandError;
use crate::apply::edges::ClusterEdge;
use crate::apply::Environment;
use crate::objects::{self, cluster as cluster_objects};
use crate::output::{say, Output};
use crate::paths::{self, HostPath};
use crate::plan::ApplyMode;
use crate::token::BootstrapToken;

/// Where a control-plane node's files are.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// The host root.
    pub host_root: PathBuf,
    /// The certificate directory on the host.
    pub cert_dir: String,
}

impl NodeFiles {
    fn environment(&self) -> Result<Environment, CommandError> {
        Ok(Environment::local(&self.host_root)?)
    }

    fn cluster(&self, env: &Environment) -> Box<dyn ClusterEdge> {
        env.cluster(&self.cert_dir)
    }
}

/// Options of `token create`.
#[derive(Debug, Clone)]
pub struct CreateToken {
    /// The token, or a random one.
    pub token: Option<BootstrapToken>,
    /// Lifetime (0 = forever).
    pub ttl: Duration,
    /// `signing`, `authentication`.
    pub usages: Vec<String>,
    /// Extra groups.
    pub groups: Vec<String>,
    /// Description.
    pub description: String,
    /// Also print the join command.
    pub print_join_command: bool,
}

/// `kubeup token create`: the Secret, then cluster-info signed for it at once.
pub async fn create(node: &NodeFiles, o: CreateToken) -> Result<(), CommandError> {
    for u in &o.usages {
        if u != "signing" && u != "authentication" {
            return Err(CommandError::Usage(format!("--usages: {u:?} must be signing or authentication")));
        }
    }
    for g in &o.groups {
        if !crate::config::is_bootstrap_group(g) {
            return Err(CommandError::Usage(format!("--groups: {g:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]")));
        }
    }
    let token = match o.token {
        Some(t) => t,
        None => BootstrapToken::generate().map_err(|e| CommandError::Usage(format!("cannot make a token: {e}")))?,
    };
    let env = node.environment()?;
    // Read before anything is created: a node without admin.conf or a CA fails cleanly.
    let line = if o.print_join_command { Some(join_command(&env, &node.cert_dir, &token)?) } else { None };
    let cluster = node.cluster(&env);
    let expiration =
        (!o.ttl.is_zero()).then(|| (OffsetDateTime::now_utc() + o.ttl).format(&Rfc3339)).transpose().map_err(|e| CommandError::Usage(e.to_string()))?;
    let groups = if o.groups.is_empty() { vec![objects::DEFAULT_NODE_TOKEN_GROUP.to_string()] } else { o.groups.clone() };
    let mut secret = cluster_objects::bootstrap_token_secret(&token, expiration.as_deref(), &o.description, &groups);
    cluster_objects::restrict_usages(&mut secret, &o.usages);
    if cluster.apply(&objects::json(&secret), ApplyMode::CreateIfAbsent).await? == crate::apply::edges::Applied::Kept {
        return Err(CommandError::Refused(format!(
            "token {} already exists: delete it first (`kubeup token delete {}`) or choose another",
            token.id(),
            token.id()
        )));
    }
    if o.usages.is_empty() || o.usages.iter().any(|u| u == "signing") {
        // Sign cluster-info now instead of waiting for the controller-manager's bootstrapsigner.
        cluster.sign_cluster_info(&token).await?;
    }
    say(&format!("{}\n", line.unwrap_or_else(|| token.to_string())));
    Ok(())
}

pub(super) fn read_text(env: &Environment, path: &HostPath) -> Result<String, CommandError> {
    let b = env
        .files()
        .read(path)
        .map_err(|e| CommandError::Refused(e.to_string()))?
        .ok_or_else(|| CommandError::Refused(format!("{path} does not exist on this host: run this on a control-plane node set up by kubeup")))?;
    String::from_utf8(b).map_err(|_| CommandError::Refused(format!("{path} is not text")))
}

/// The join line for a token, with the CA pin of this node's CA and admin.conf's endpoint.
fn join_command(env: &Environment, cert_dir: &str, token: &BootstrapToken) -> Result<String, CommandError> {
    let ca_path = HostPath::new(format!("{cert_dir}/ca.crt")).map_err(|e| CommandError::Usage(format!("--cert-dir: {e}")))?;
    let hash = crate::pki::ca_cert_hash(&read_text(env, &ca_path)?).map_err(|e| CommandError::Refused(format!("{ca_path}: {e}")))?;
    let admin =
        crate::kubeconfig::read_existing(&read_text(env, &paths::kubeconfig("admin.conf"))?).map_err(|e| CommandError::Refused(format!("admin.conf: {e}")))?;
    Ok(crate::join_command::worker(admin.server.trim_start_matches("https://"), token, &hash))
}

/// One row of `token list`, from a token Secret.
fn row(s: &k8s_openapi::api::core::v1::Secret, now: OffsetDateTime) -> serde_json::Value {
    let get = |k: &str| s.data.as_ref().and_then(|d| d.get(k)).map(|v| String::from_utf8_lossy(&v.0).into_owned()).unwrap_or_default();
    let expires = get("expiration");
    let ttl = OffsetDateTime::parse(&expires, &Rfc3339).ok().map(|e| {
        let left = (e - now).whole_seconds();
        if left <= 0 {
            "expired".to_string()
        } else {
            format!("{}h", (left + 3599) / 3600)
        }
    });
    let usages: Vec<&str> = [("usage-bootstrap-authentication", "authentication"), ("usage-bootstrap-signing", "signing")]
        .iter()
        .filter(|(k, _)| get(k) == "true")
        .map(|(_, u)| *u)
        .collect();
    serde_json::json!({
        "token": format!("{}.<secret>", get("token-id")),
        "ttl": ttl.unwrap_or_else(|| "<forever>".into()),
        "expires": if expires.is_empty() { "<never>".to_string() } else { expires },
        "usages": usages.join(","),
        "description": get("description"),
        "extraGroups": get("auth-extra-groups"),
    })
}

/// `kubeup token list`.
pub async fn list(node: &NodeFiles, output: Output) -> Result<(), CommandError> {
    let env = node.environment()?;
    let secrets = node.cluster(&env).bootstrap_tokens().await?;
    let now = OffsetDateTime::now_utc();
    let rows: Vec<serde_json::Value> = secrets.iter().map(|s| row(s, now)).collect();
    match output {
        Output::Json => say(&format!("{:#}\n", serde_json::json!({ "tokens": rows }))),
        Output::Text => {
            say("TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION\n");
            for r in &rows {
                let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
                say(&format!("{:<25} {:<11} {:<22} {:<24} {}\n", f("token"), f("ttl"), f("expires"), f("usages"), f("description")));
            }
        }
    }
    Ok(())
}

/// `kubeup token delete <id|token>`.
pub async fn delete(node: &NodeFiles, which: &str) -> Result<(), CommandError> {
    let id = match which.parse::<BootstrapToken>() {
        Ok(t) => t.id().to_string(),
        Err(_) if which.len() == 6 && which.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) => which.to_string(),
        Err(e) => return Err(CommandError::Usage(format!("{which:?}: {e}, or a token id [a-z0-9]{{6}}"))),
    };
    let env = node.environment()?;
    let stub = serde_json::json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": format!("bootstrap-token-{id}"), "namespace": "kube-system" } });
    if !node.cluster(&env).delete(&stub).await? {
        return Err(CommandError::Refused(format!("bootstrap token {id} does not exist")));
    }
    say(&format!("bootstrap token {id} deleted\n"));
    Ok(())
}

/// `kubeup token generate`: a random token, created nowhere.
pub fn generate() -> Result<(), CommandError> {
    let t = BootstrapToken::generate().map_err(|e| CommandError::Usage(format!("cannot make a token: {e}")))?;
    say(&format!("{t}\n"));
    Ok(())
}
