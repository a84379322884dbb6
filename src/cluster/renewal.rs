//! EDGE: what the certificate renewer asks of the API: a Lease, so that two control-plane nodes
//! never renew (and restart their components) at once; Events on the Node that say what was done;
//! and the kubelet serving CSRs it approves or denies.

use std::time::Duration;

use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;

use super::client::ClusterError;

/// The Lease every renewer of the cluster takes before renewing.
pub const LEASE: &str = "kubeup-certificate-renewal";
/// The component name on the renewer's Events.
pub const COMPONENT: &str = "kubeup-cert-renewer";

fn api_err(object: &str, e: kube::Error) -> ClusterError {
    let reason = match &e {
        kube::Error::Api(s) => format!("HTTP {} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    };
    ClusterError::Api { object: object.into(), reason }
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// The renewer's view of the API, as node `node`.
pub struct RenewerApi {
    client: Client,
    node: String,
}

impl RenewerApi {
    /// A client from the node's admin kubeconfig.
    pub async fn connect(admin_conf: &str, node: &str) -> Result<RenewerApi, ClusterError> {
        Ok(RenewerApi { client: super::client::client_from_kubeconfig(admin_conf, "/etc/kubernetes/admin.conf").await?, node: node.into() })
    }

    /// Take the Lease for `hold`. `Ok(None)`: taken; `Ok(Some(holder))`: another node holds it.
    pub async fn try_acquire(&self, hold: Duration) -> Result<Option<String>, ClusterError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), "kube-system");
        let object = format!("Lease kube-system/{LEASE}");
        let now = Timestamp::now();
        let spec = LeaseSpec {
            holder_identity: Some(self.node.clone()),
            lease_duration_seconds: Some(i32::try_from(hold.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        };
        match api.get_opt(LEASE).await.map_err(|e| api_err(&object, e))? {
            None => {
                let lease = Lease { metadata: ObjectMeta { name: Some(LEASE.into()), ..Default::default() }, spec: Some(spec) };
                match api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(None),
                    Err(e) if conflict(&e) => Ok(Some("another node".into())),
                    Err(e) => Err(api_err(&object, e)),
                }
            }
            Some(mut lease) => {
                let old = lease.spec.clone().unwrap_or_default();
                let holder = old.holder_identity.clone().unwrap_or_default();
                let until = old.renew_time.as_ref().map(|t| t.0.as_second() + i64::from(old.lease_duration_seconds.unwrap_or(0))).unwrap_or(0);
                if !holder.is_empty() && holder != self.node && until > now.as_second() {
                    return Ok(Some(holder));
                }
                lease.spec = Some(spec);
                // The resourceVersion read above makes this a compare-and-swap.
                match api.replace(LEASE, &PostParams::default(), &lease).await {
                    Ok(_) => Ok(None),
                    Err(e) if conflict(&e) => Ok(Some("another node".into())),
                    Err(e) => Err(api_err(&object, e)),
                }
            }
        }
    }

    /// Give the Lease back (if this node still holds it).
    pub async fn release(&self) -> Result<(), ClusterError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), "kube-system");
        let object = format!("Lease kube-system/{LEASE}");
        let Some(mut lease) = api.get_opt(LEASE).await.map_err(|e| api_err(&object, e))? else { return Ok(()) };
        if lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) != Some(self.node.as_str()) {
            return Ok(());
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
        }
        match api.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(e) if conflict(&e) => Ok(()),
            Err(e) => Err(api_err(&object, e)),
        }
    }

    /// An Event on this Node (`kubectl describe node` shows it).
    pub async fn event(&self, warning: bool, reason: &str, message: &str) -> Result<(), ClusterError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta { generate_name: Some(format!("{}.kubeup-", self.node)), namespace: Some("default".into()), ..Default::default() },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(self.node.clone()),
                uid: Some(self.node.clone()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            source: Some(EventSource { component: Some(COMPONENT.into()), host: Some(self.node.clone()) }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(self.node.clone()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await.map_err(|e| api_err(&format!("Event on Node {}", self.node), e))?;
        Ok(())
    }

    /// The kubelet serving CSRs of the cluster.
    pub async fn serving_csrs(&self) -> Result<Vec<CertificateSigningRequest>, ClusterError> {
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        let lp = ListParams::default().fields(&format!("spec.signerName={}", crate::certs::csr_policy::SIGNER));
        Ok(api.list(&lp).await.map_err(|e| api_err("CertificateSigningRequests", e))?.items)
    }

    /// A Node, if it exists.
    pub async fn node(&self, name: &str) -> Result<Option<Node>, ClusterError> {
        Api::<Node>::all(self.client.clone()).get_opt(name).await.map_err(|e| api_err(&format!("Node {name}"), e))
    }

    /// Approve or deny a CSR, saying why.
    pub async fn decide(&self, name: &str, approve: bool, message: &str) -> Result<(), ClusterError> {
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        let condition = CertificateSigningRequestCondition {
            type_: if approve { "Approved" } else { "Denied" }.into(),
            status: "True".into(),
            reason: Some(if approve { "KubeupApprovedKubeletServing" } else { "KubeupDeniedKubeletServing" }.into()),
            message: Some(message.into()),
            last_update_time: Some(Time(Timestamp::now())),
            ..Default::default()
        };
        let patch = serde_json::json!({ "status": CertificateSigningRequestStatus { conditions: Some(vec![condition]), ..Default::default() } });
        api.patch_approval(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| api_err(&format!("CertificateSigningRequest {name}"), e))?;
        Ok(())
    }
}
