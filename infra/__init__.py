"""Deployment packaging: the CloudFormation merged into ``chalice package`` output, and the policies."""
