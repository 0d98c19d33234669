"""The stage's CloudFormation resources around the Chalice functions, merged into one template.

``chalice package`` describes the functions, their roles and the APIs. This adds what the code
needs around them: every DynamoDB table and index (from ``table_definitions()``, so a model
added later appears here by itself), the JWT signing and kubeconfig secrets named in the
stage's configuration, the private files bucket, and a CloudFront distribution serving the
built frontend with ``/api/*`` and ``/pb/*`` on the REST API and ``/ws/*`` on the WebSocket
API — the same origin, as the frontend expects.

Usage: python -m infra.build_template STAGE CHALICE_TEMPLATE OUT
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from chalicelib.records.tables import table_definitions
from chalicelib.settings import Settings
from infra.stages import stage_settings

Template = dict[str, Any]
Resources = dict[str, Any]

# AWS managed CloudFront policies (fixed ids, documented by CloudFront).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
KEEP = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}

# Deep links of the single-page app load index.html; files (a dot in the last segment) do not.
SPA_FUNCTION = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""
# A WebSocket API answers only on its stage path: /ws/k8s/logs connects to /STAGE, and the
# stream the client asked for travels along as ?stream=logs.
WEBSOCKET_FUNCTION = """function handler(event) {
  var request = event.request;
  request.querystring.stream = {value: request.uri.split('/').pop()};
  request.uri = '/%s';
  return request;
}
"""


def logical_id(name: str, suffix: str) -> str:
    """``blueprintSubscriptions`` -> ``BlueprintSubscriptionsTable``."""
    return name[0].upper() + name[1:] + suffix


def _hash_first(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    """CloudFormation wants the partition key first; PynamoDB lists keys in any order."""
    return sorted(keys, key=lambda key: key["KeyType"] != "HASH")


def table_resources(settings: Settings) -> Resources:
    resources: Resources = {}
    for name, definition in table_definitions().items():
        properties: dict[str, Any] = {
            "TableName": settings.table_prefix + name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": definition["attribute_definitions"],
            "KeySchema": _hash_first(definition["key_schema"]),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        if definition["global_secondary_indexes"]:
            properties["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index["index_name"],
                    "KeySchema": _hash_first(index["key_schema"]),
                    "Projection": index["projection"],
                }
                for index in definition["global_secondary_indexes"]
            ]
        if definition["ttl_attribute"]:
            properties["TimeToLiveSpecification"] = {
                "AttributeName": definition["ttl_attribute"],
                "Enabled": True,
            }
        resources[logical_id(name, "Table")] = {
            "Type": "AWS::DynamoDB::Table",
            **KEEP,
            "Properties": properties,
        }
    return resources


def secret_resources(settings: Settings) -> Resources:
    """The secrets the stage's settings name; parameters named instead are the operator's
    (CloudFormation cannot create SSM SecureStrings)."""
    resources: Resources = {}
    if settings.jwt_secret_id:
        resources["JwtSigningSecret"] = {
            "Type": "AWS::SecretsManager::Secret",
            **KEEP,
            "Properties": {
                "Name": settings.jwt_secret_id,
                "Description": "Signs the auth tokens; rotating it logs every user out.",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        }
    if settings.kubeconfig_secret_id:
        resources["KubeconfigSecret"] = {
            "Type": "AWS::SecretsManager::Secret",
            **KEEP,
            "Properties": {
                "Name": settings.kubeconfig_secret_id,
                "Description": (
                    "The cluster's kubeconfig for the backend's role (infra/rbac); the "
                    "generated value is a placeholder until put-secret-value replaces it."
                ),
                "GenerateSecretString": {"PasswordLength": 32},
            },
        }
    return resources


def _private_bucket() -> dict[str, Any]:
    """Kept on stack deletion like the tables: CloudFormation cannot delete a bucket with
    objects in it, and the files bucket holds users' uploads."""
    return {
        "Type": "AWS::S3::Bucket",
        **KEEP,
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    }


def _tls_only(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_resources() -> Resources:
    return {
        "FilesBucket": _private_bucket(),
        "FilesBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "FilesBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [_tls_only("FilesBucket")],
                },
            },
        },
    }


def _api_origin(origin_id: str, api: str) -> dict[str, Any]:
    return {
        "Id": origin_id,
        "DomainName": {"Fn::Sub": f"${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"},
        "CustomOriginConfig": {
            "OriginProtocolPolicy": "https-only",
            "OriginSSLProtocols": ["TLSv1.2"],
        },
    }


def _api_behaviour(pattern: str, origin_id: str, function: str | None = None) -> dict[str, Any]:
    """Nothing cached; every viewer header but Host reaches the API (API Gateway routes by its
    own host name). With caching disabled this includes ``Authorization``."""
    behaviour: dict[str, Any] = {
        "PathPattern": pattern,
        "TargetOriginId": origin_id,
        "ViewerProtocolPolicy": "https-only",
        "AllowedMethods": ALL_METHODS,
        "CachedMethods": ["GET", "HEAD"],
        "CachePolicyId": CACHING_DISABLED,
        "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
        "Compress": True,
    }
    if function is not None:
        behaviour["FunctionAssociations"] = [
            {
                "EventType": "viewer-request",
                "FunctionARN": {"Fn::GetAtt": [function, "FunctionARN"]},
            }
        ]
    return behaviour


def _viewer_function(name: str, code: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": {"Fn::Sub": f"${{AWS::StackName}}-{name}"},
            "AutoPublish": True,
            "FunctionCode": code,
            "FunctionConfig": {"Comment": name, "Runtime": "cloudfront-js-2.0"},
        },
    }


def edge_resources(chalice_resources: Resources) -> Resources:
    """The frontend bucket behind CloudFront (origin access control, no public access) and
    the API routes on the same domain. The REST origin path is the API Gateway stage, so
    ``/api/health`` reaches the route ``/api/health`` and ``/pb/...`` the route ``/pb/...``."""
    rest_stage = chalice_resources["RestAPI"]["Properties"]["StageName"]
    origins = [
        {
            "Id": "frontend",
            "DomainName": {"Fn::GetAtt": ["FrontendBucket", "RegionalDomainName"]},
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": {"Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]},
        },
        {**_api_origin("rest-api", "RestAPI"), "OriginPath": f"/{rest_stage}"},
    ]
    behaviours = [_api_behaviour("/api/*", "rest-api"), _api_behaviour("/pb/*", "rest-api")]
    resources: Resources = {
        "FrontendBucket": _private_bucket(),
        "FrontendOriginAccessControl": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": {"Fn::Sub": "${AWS::StackName}-frontend"},
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        "FrontendBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "FrontendBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        _tls_only("FrontendBucket"),
                        {
                            "Sid": "CloudFrontReads",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Sub": "${FrontendBucket.Arn}/*"},
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceArn": {
                                        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::"
                                        "${AWS::AccountId}:distribution/${Distribution}"
                                    }
                                }
                            },
                        },
                    ],
                },
            },
        },
        "SpaRewrite": _viewer_function("spa-rewrite", SPA_FUNCTION),
    }
    if "WebsocketAPI" in chalice_resources:
        ws_stage = chalice_resources["WebsocketAPIStage"]["Properties"]["StageName"]
        origins.append(_api_origin("websocket-api", "WebsocketAPI"))
        behaviours.append(_api_behaviour("/ws/*", "websocket-api", "WebsocketRewrite"))
        resources["WebsocketRewrite"] = _viewer_function(
            "websocket-rewrite", WEBSOCKET_FUNCTION % ws_stage
        )
    resources["Distribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": {"Fn::Sub": "${AWS::StackName}: frontend and API on one origin"},
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": "PriceClass_100",
                "Origins": origins,
                "DefaultCacheBehavior": {
                    "TargetOriginId": "frontend",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "Compress": True,
                    "FunctionAssociations": [
                        {
                            "EventType": "viewer-request",
                            "FunctionARN": {"Fn::GetAtt": ["SpaRewrite", "FunctionARN"]},
                        }
                    ],
                },
                "CacheBehaviors": behaviours,
            }
        },
    }
    return resources


def data_template(settings: Settings) -> Template:
    """Tables, secrets and the files bucket: the stateful part, deployable on its own."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "One-Click Serverless: tables, secrets and files bucket",
        "Resources": {
            **table_resources(settings),
            **secret_resources(settings),
            **bucket_resources(),
        },
    }


def merged_template(chalice_template: Template, settings: Settings) -> Template:
    """The one deployable template: Chalice's functions and APIs plus everything above."""
    merged = copy.deepcopy(chalice_template)
    chalice_resources = merged["Resources"]
    ours = {**data_template(settings)["Resources"], **edge_resources(chalice_resources)}
    clashes = sorted(set(ours) & set(chalice_resources))
    if clashes:
        raise ValueError(f"logical ids defined by both Chalice and infra: {clashes}")
    chalice_resources.update(ours)
    merged["Description"] = "One-Click Serverless: API, functions, tables, secrets, frontend"
    globals_ = merged.setdefault("Globals", {}).setdefault("Function", {})
    variables = globals_.setdefault("Environment", {}).setdefault("Variables", {})
    variables["FILES_BUCKET"] = {"Ref": "FilesBucket"}
    if "StreamWorker" in chalice_resources and "WebsocketMessage" in chalice_resources:
        # The first worker is started by the message handler; later ones by the worker
        # itself, which knows its own name (AWS_LAMBDA_FUNCTION_NAME).
        own = chalice_resources["WebsocketMessage"]["Properties"]
        own.setdefault("Environment", {}).setdefault("Variables", {})["STREAM_WORKER_FUNCTION"] = {
            "Ref": "StreamWorker"
        }
    merged.setdefault("Outputs", {}).update(
        {
            "FrontendURL": {"Value": {"Fn::Sub": "https://${Distribution.DomainName}"}},
            "DistributionId": {"Value": {"Ref": "Distribution"}},
            "FrontendBucketName": {"Value": {"Ref": "FrontendBucket"}},
            "FilesBucketName": {"Value": {"Ref": "FilesBucket"}},
        }
    )
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build_template", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("chalice_template", type=Path, help="sam.json from chalice package")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    chalice_template = json.loads(args.chalice_template.read_text())
    template = merged_template(chalice_template, stage_settings(args.stage))
    args.out.write_text(json.dumps(template, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
