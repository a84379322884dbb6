//! Day-to-day commands on a running cluster: `kubeup token create|list|delete|generate` and
//! `kubeup kubeconfig user`. They use the node's admin.conf and PKI from the host root.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{error, exit, say, Output};
use crate::cluster::{client, objects};
use crate::host::HostRoot;
use crate::paths::{self, HostPath};
use crate::token::BootstrapToken;

fn read_text(root: &HostRoot, path: &HostPath) -> Result<String, String> {
    let b = root
        .read(path)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{path} does not exist on this host: run this on a control-plane node set up by kubeup"))?;
    String::from_utf8(b).map_err(|_| format!("{path} is not text"))
}

async fn admin(root: &HostRoot) -> Result<kube::Client, String> {
    let text = read_text(root, &paths::kubeconfig("admin.conf"))?;
    client::client_from_kubeconfig(&text, "/etc/kubernetes/admin.conf").await.map_err(|e| e.to_string())
}

/// Options of `token create`.
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
pub async fn token_create(root: &HostRoot, cert_dir: &str, o: CreateToken) -> u8 {
    for u in &o.usages {
        if u != "signing" && u != "authentication" {
            return error(exit::USAGE, &format!("--usages: {u:?} must be signing or authentication"));
        }
    }
    for g in &o.groups {
        if !crate::config::is_bootstrap_group(g) {
            return error(exit::USAGE, &format!("--groups: {g:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]"));
        }
    }
    let token = match o.token {
        Some(t) => t,
        None => match BootstrapToken::generate() {
            Ok(t) => t,
            Err(e) => return error(exit::FAILED, &e.to_string()),
        },
    };
    let result = async {
        let c = admin(root).await?;
        let expiration = (!o.ttl.is_zero()).then(|| (OffsetDateTime::now_utc() + o.ttl).format(&Rfc3339)).transpose().map_err(|e| e.to_string())?;
        let groups = if o.groups.is_empty() { vec![objects::DEFAULT_NODE_TOKEN_GROUP.to_string()] } else { o.groups.clone() };
        let mut secret = objects::bootstrap_token_secret(&token, expiration.as_deref(), &o.description, &groups);
        objects::restrict_usages(&mut secret, &o.usages);
        if client::apply(&c, &objects::json(&secret), true).await.map_err(|e| e.to_string())? == client::Applied::Kept {
            return Err(format!("token {} already exists: delete it first (`kubeup token delete {}`) or choose another", token.id(), token.id()));
        }
        if o.usages.is_empty() || o.usages.iter().any(|u| u == "signing") {
            // Sign cluster-info now instead of waiting for the controller-manager's bootstrapsigner.
            let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "kube-public");
            let ci = cms.get("cluster-info").await.map_err(|e| format!("ConfigMap kube-public/cluster-info: {e}"))?;
            let kc = ci.data.as_ref().and_then(|d| d.get("kubeconfig")).cloned().ok_or("cluster-info has no kubeconfig")?;
            let sig = crate::jws::detached_signature(&kc, token.id(), token.secret());
            let patch = serde_json::json!({ "data": { format!("jws-kubeconfig-{}", token.id()): sig } });
            cms.patch("cluster-info", &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| format!("ConfigMap kube-public/cluster-info: {e}"))?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        return error(exit::FAILED, &e);
    }
    if o.print_join_command {
        match join_command(root, cert_dir, &token) {
            Ok(line) => say(&format!("{line}\n")),
            Err(e) => return error(exit::FAILED, &e),
        }
    } else {
        say(&format!("{token}\n"));
    }
    exit::OK
}

/// The `docker run … kubeup join` line for a token, with the CA pin of this node's CA.
pub fn join_command(root: &HostRoot, cert_dir: &str, token: &BootstrapToken) -> Result<String, String> {
    let ca = read_text(root, &HostPath::new(format!("{cert_dir}/ca.crt")).map_err(|e| e.to_string())?)?;
    let hash = crate::pki::ca_cert_hash(&ca)?;
    let admin = crate::kubeconfig::read_existing(&read_text(root, &paths::kubeconfig("admin.conf"))?)?;
    let endpoint = admin.server.trim_start_matches("https://").to_string();
    Ok(format!(
        "docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup join {endpoint} --token {token} --discovery-token-ca-cert-hash {hash}"
    ))
}

/// `kubeup token list`.
pub async fn token_list(root: &HostRoot, output: Output) -> u8 {
    let secrets = async {
        let c = admin(root).await?;
        let api: Api<Secret> = Api::namespaced(c, "kube-system");
        api.list(&ListParams::default().fields("type=bootstrap.kubernetes.io/token")).await.map_err(|e| format!("listing bootstrap tokens: {e}"))
    }
    .await;
    let secrets = match secrets {
        Ok(s) => s,
        Err(e) => return error(exit::FAILED, &e),
    };
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    for s in secrets.items {
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
        rows.push(serde_json::json!({
            "token": format!("{}.<secret>", get("token-id")),
            "ttl": ttl.unwrap_or_else(|| "<forever>".into()),
            "expires": if expires.is_empty() { "<never>".to_string() } else { expires },
            "usages": usages.join(","),
            "description": get("description"),
            "extraGroups": get("auth-extra-groups"),
        }));
    }
    match output {
        Output::Json => say(&format!("{:#}\n", serde_json::json!({ "tokens": rows }))),
        Output::Text => {
            say("TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION\n");
            for r in &rows {
                say(&format!(
                    "{:<25} {:<11} {:<22} {:<24} {}\n",
                    r["token"].as_str().unwrap_or(""),
                    r["ttl"].as_str().unwrap_or(""),
                    r["expires"].as_str().unwrap_or(""),
                    r["usages"].as_str().unwrap_or(""),
                    r["description"].as_str().unwrap_or("")
                ));
            }
        }
    }
    exit::OK
}

/// `kubeup token delete <id|token>`.
pub async fn token_delete(root: &HostRoot, which: &str) -> u8 {
    let id = match which.parse::<BootstrapToken>() {
        Ok(t) => t.id().to_string(),
        Err(_) if which.len() == 6 && which.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) => which.to_string(),
        Err(e) => return error(exit::USAGE, &format!("{which:?}: {e}, or a token id [a-z0-9]{{6}}")),
    };
    let result = async {
        let c = admin(root).await?;
        let api: Api<Secret> = Api::namespaced(c, "kube-system");
        api.delete(&format!("bootstrap-token-{id}"), &DeleteParams::default()).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => format!("bootstrap token {id} does not exist"),
            other => format!("deleting bootstrap token {id}: {other}"),
        })
    }
    .await;
    match result {
        Ok(_) => {
            say(&format!("bootstrap token {id} deleted\n"));
            exit::OK
        }
        Err(e) => error(exit::FAILED, &e),
    }
}

/// `kubeup kubeconfig user`: a kubeconfig for a user, signed by the cluster CA.
pub fn kubeconfig_user(root: &HostRoot, cert_dir: &str, name: &str, orgs: &[String], validity: Duration, out: Option<&std::path::Path>) -> u8 {
    let result = (|| -> Result<String, String> {
        let ca_cert = read_text(root, &HostPath::new(format!("{cert_dir}/ca.crt")).map_err(|e| e.to_string())?)?;
        let ca_key = read_text(root, &HostPath::new(format!("{cert_dir}/ca.key")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{e} (external CA mode cannot sign user certificates here)"))?;
        let admin = crate::kubeconfig::read_existing(&read_text(root, &paths::kubeconfig("admin.conf"))?)?;
        let ca = crate::pki::CertPair { cert_pem: ca_cert.clone(), key_pem: ca_key };
        let id = crate::pki::Identity { cn: name.into(), orgs: orgs.to_vec(), usages: vec![crate::pki::Usage::ClientAuth], sans: vec![] };
        let pair = crate::pki::issue_leaf(&id, &ca, validity, OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
        let cluster = kube::config::Kubeconfig::from_yaml(&read_text(root, &paths::kubeconfig("admin.conf"))?)
            .ok()
            .and_then(|k| k.clusters.first().map(|c| c.name.clone()))
            .unwrap_or_else(|| "kubernetes".into());
        let kc = crate::kubeconfig::with_client_cert(&cluster, &admin.server, &ca_cert, name, &pair.cert_pem, &pair.key_pem);
        crate::kubeconfig::to_yaml(&kc)
    })();
    let yaml = match result {
        Ok(y) => y,
        Err(e) => return error(exit::FAILED, &e),
    };
    match out {
        Some(path) => match crate::host::fs::atomic_write(path, yaml.as_bytes(), 0o600) {
            Ok(()) => {
                say(&format!("wrote {} (kubeconfig for {name})\n", path.display()));
                exit::OK
            }
            Err(e) => error(exit::FAILED, &format!("cannot write {}: {e}", path.display())),
        },
        None => {
            say(&yaml);
            exit::OK
        }
    }
}
