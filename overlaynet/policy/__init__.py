"""Network-policy semantics that belong to one implementation, above the model: Calico's
policy resources (``projectcalico.org/v3`` NetworkPolicy and GlobalNetworkPolicy, and
Kubernetes NetworkPolicies as Calico converts them), its selector language, and its
decision (ordered policies, tiers, Pass). The calico driver renders them into Felix's
chains; the reachability analysis evaluates them. Kubernetes' own NetworkPolicy semantics
stay with the model (``overlaynet.model.netpol``)."""
