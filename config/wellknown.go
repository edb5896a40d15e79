package config

// The link-local addresses where SDKs look for the metadata services with
// no settings at all: EC2 IMDS, and the ECS agent's credentials endpoint.
const (
	MetadataIMDSHost = "169.254.169.254"
	MetadataECSHost  = "169.254.170.2"
)
