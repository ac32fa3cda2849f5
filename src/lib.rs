//! huaweicloud-exporter: Prometheus metrics for Huawei Cloud management-plane state.
