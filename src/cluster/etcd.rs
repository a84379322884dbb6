//! EDGE: etcd membership for control-plane joins, through etcd's JSON gateway (`/v3/cluster/…`,
//! served by etcd ≥3.4 on its client port), with a client certificate signed by the etcd CA.
//! kubeadm's order: add the new node as a learner, start its etcd with
//! `--initial-cluster-state=existing`, promote it once it has caught up.

use std::time::{Duration, Instant};

use kube::Client;
use serde::Deserialize;

use crate::pki::{CertPair, Identity, Usage};

/// One etcd member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Member id (uint64, as the gateway writes it: a decimal string).
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Name (the node name); empty for a learner that has not started yet.
    #[serde(default)]
    pub name: String,
    /// Peer URLs.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    /// Whether it is a learner.
    #[serde(default)]
    pub is_learner: bool,
}

#[derive(Debug, Deserialize)]
struct Members {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Added {
    member: Member,
}

/// A client for the etcd gateway at `endpoint` (`https://host:2379`), authenticated with a
/// fresh client certificate of the etcd CA.
pub struct Etcd {
    client: Client,
    endpoint: String,
}

impl Etcd {
    /// Connect with a short-lived client certificate issued from the etcd CA (cert and key PEM).
    pub fn connect(endpoint: &str, etcd_ca: &CertPair) -> Result<Etcd, String> {
        let id = Identity { cn: "kubeup-etcd-client".into(), orgs: vec![], usages: vec![Usage::ClientAuth], sans: vec![] };
        let leaf = crate::pki::issue_leaf(&id, etcd_ca, Duration::from_secs(3600), time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
        let client = crate::cluster::health::tls_client(endpoint, &etcd_ca.cert_pem, true, Some((&leaf.cert_pem, &leaf.key_pem)))
            .ok_or_else(|| format!("cannot build an etcd client for {endpoint}"))?;
        Ok(Etcd { client, endpoint: endpoint.into() })
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<String, String> {
        let req = http::Request::post(path).header("content-type", "application/json").body(body.to_string().into_bytes()).map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(10), self.client.request_text(req))
            .await
            .map_err(|_| format!("etcd at {} did not answer {path} within 10 s", self.endpoint))?
            .map_err(|e| format!("etcd at {} refused {path}: {e}", self.endpoint))
    }

    /// The members.
    pub async fn members(&self) -> Result<Vec<Member>, String> {
        let text = self.post("/v3/cluster/member/list", serde_json::json!({})).await?;
        Ok(serde_json::from_str::<Members>(&text).map_err(|e| format!("etcd member list: {e}"))?.members)
    }

    /// Add `peer_url` as a learner unless a member with that peer URL exists; returns its id.
    pub async fn add_learner(&self, peer_url: &str) -> Result<String, String> {
        if let Some(m) = self.members().await?.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) {
            return Ok(m.id);
        }
        let text = self.post("/v3/cluster/member/add", serde_json::json!({ "peerURLs": [peer_url], "isLearner": true })).await?;
        Ok(serde_json::from_str::<Added>(&text).map_err(|e| format!("etcd member add: {e}"))?.member.id)
    }

    /// Promote the learner with `peer_url` to a voting member, retrying while it catches up.
    pub async fn promote(&self, peer_url: &str, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let Some(m) = self.members().await?.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) else {
                return Err(format!("etcd has no member with peer URL {peer_url}"));
            };
            if !m.is_learner {
                return Ok(());
            }
            match self.post("/v3/cluster/member/promote", serde_json::json!({ "ID": m.id })).await {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() < timeout => tracing::info!("learner not ready to be promoted yet: {e}"),
                Err(e) => return Err(format!("the etcd learner {peer_url} could not be promoted within {} s: {e}", timeout.as_secs())),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Remove the member with `peer_url` unless it is the last one; says what it did.
    pub async fn remove(&self, peer_url: &str) -> Result<String, String> {
        let members = self.members().await?;
        let Some(m) = members.iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) else {
            return Ok(format!("etcd has no member {peer_url}"));
        };
        if members.len() == 1 {
            return Ok("this node's etcd is the cluster's last member; kept".into());
        }
        // A reconfiguration needs the voting members' quorum; a member that has just started may
        // take a moment, so try for half a minute.
        let started = Instant::now();
        loop {
            match self.post("/v3/cluster/member/remove", serde_json::json!({ "ID": m.id })).await {
                Ok(_) => return Ok(format!("etcd member {} ({peer_url}) removed", m.name)),
                Err(e) if started.elapsed() < Duration::from_secs(30) => tracing::info!("etcd member remove: {e}; retrying"),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !self.members().await?.iter().any(|x| x.id == m.id) {
                return Ok(format!("etcd member {} ({peer_url}) removed", m.name));
            }
        }
    }
}
