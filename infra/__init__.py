"""Deployment artifacts for AWS: IAM policies, the CloudFormation template, the Lambda bundle.

Everything here is generated from the code it deploys (the Chalice app, the PynamoDB models,
``.chalice/config.json``), so a deployment can never describe tables, functions or names the
code does not have.
"""
