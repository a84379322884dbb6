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

/// Why an etcd operation failed; each names the member and what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No client could be made (the etcd CA is unusable).
    #[error("cannot build an etcd client for {endpoint}: {reason}")]
    Client {
        /// The member.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A request failed, timed out or was answered with something unreadable.
    #[error("etcd at {endpoint}: {what}: {reason}")]
    Request {
        /// The member.
        endpoint: String,
        /// The request.
        what: String,
        /// Why.
        reason: String,
    },
    /// The member asked for does not exist.
    #[error("etcd has no member with peer URL {0}")]
    NoMember(String),
    /// A learner did not catch up in time.
    #[error("the etcd learner {peer_url} could not be promoted within {secs} s: {reason}")]
    NotPromoted {
        /// The learner.
        peer_url: String,
        /// Seconds waited.
        secs: u64,
        /// etcd's last answer.
        reason: String,
    },
}

/// A client for the etcd gateway at `endpoint` (`https://host:2379`), authenticated with a
/// fresh client certificate of the etcd CA.
pub struct Etcd {
    client: Client,
    endpoint: String,
}

impl Etcd {
    /// Connect with a short-lived client certificate issued from the etcd CA (cert and key PEM).
    pub fn connect(endpoint: &str, etcd_ca: &CertPair) -> Result<Etcd, EtcdError> {
        let err = |reason: String| EtcdError::Client { endpoint: endpoint.into(), reason };
        let id = Identity { cn: "kubeup-etcd-client".into(), orgs: vec![], usages: vec![Usage::ClientAuth], sans: vec![] };
        let leaf = crate::pki::issue_leaf(&id, etcd_ca, Duration::from_secs(3600), time::OffsetDateTime::now_utc()).map_err(|e| err(e.to_string()))?;
        let client = crate::cluster::health::tls_client(endpoint, &etcd_ca.cert_pem, true, Some((&leaf.cert_pem, &leaf.key_pem)))
            .ok_or_else(|| err("the etcd CA certificate is not usable".into()))?;
        Ok(Etcd { client, endpoint: endpoint.into() })
    }

    fn failed(&self, what: &str, reason: impl Into<String>) -> EtcdError {
        EtcdError::Request { endpoint: self.endpoint.clone(), what: what.into(), reason: reason.into() }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<String, EtcdError> {
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|e| self.failed(path, e.to_string()))?;
        tokio::time::timeout(Duration::from_secs(10), self.client.request_text(req))
            .await
            .map_err(|_| self.failed(path, "no answer within 10 s"))?
            .map_err(|e| self.failed(path, e.to_string()))
    }

    /// The members.
    pub async fn members(&self) -> Result<Vec<Member>, EtcdError> {
        let text = self.post("/v3/cluster/member/list", serde_json::json!({})).await?;
        Ok(serde_json::from_str::<Members>(&text).map_err(|e| self.failed("member list", e.to_string()))?.members)
    }

    /// Add `peer_url` as a learner unless a member with that peer URL exists; returns its id.
    pub async fn add_learner(&self, peer_url: &str) -> Result<String, EtcdError> {
        if let Some(m) = self.members().await?.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) {
            return Ok(m.id);
        }
        let text = self.post("/v3/cluster/member/add", serde_json::json!({ "peerURLs": [peer_url], "isLearner": true })).await?;
        Ok(serde_json::from_str::<Added>(&text).map_err(|e| self.failed("member add", e.to_string()))?.member.id)
    }

    /// Promote the learner with `peer_url` to a voting member, retrying while it catches up.
    pub async fn promote(&self, peer_url: &str, timeout: Duration) -> Result<(), EtcdError> {
        let started = Instant::now();
        loop {
            let Some(m) = self.members().await?.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) else {
                return Err(EtcdError::NoMember(peer_url.into()));
            };
            if !m.is_learner {
                return Ok(());
            }
            match self.post("/v3/cluster/member/promote", serde_json::json!({ "ID": m.id })).await {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() < timeout => tracing::info!("learner not ready to be promoted yet: {e}"),
                Err(e) => return Err(EtcdError::NotPromoted { peer_url: peer_url.into(), secs: timeout.as_secs(), reason: e.to_string() }),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Remove the member with `peer_url` unless it is the last one; says what it did.
    pub async fn remove(&self, peer_url: &str) -> Result<String, EtcdError> {
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
