"""The one table: Pulumi resource type -> the handler that creates and deletes it in the emulator.

Inputs arrive as the engine passes them (camelCase); each handler maps them to the AWS API and returns
the real identifiers and ARNs, so later resources are wired with emulator values exactly as with
``pulumi up``. Adding a type is one entry here (and its handler in the service's module). A type with no
entry is "declared only": listed by ``prodline sandbox status`` with the reason below, never dropped
silently, and the mapping test fails for a declared type that has neither.
"""

from __future__ import annotations

from prodline.sandbox.realizer import (
    apigateway,
    autoscaling,
    cloudwatch,
    codebuild,
    ecr,
    events,
    glue,
    iam,
    kinesis,
    kms,
    s3,
    sagemaker,
    sns,
    sqs,
)
from prodline.sandbox.realizer.base import Handler

HANDLERS: dict[str, Handler] = {
    "aws:s3/bucket:Bucket": s3.BUCKET,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": s3.OWNERSHIP_CONTROLS,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": s3.PUBLIC_ACCESS_BLOCK,
    "aws:s3/bucketVersioning:BucketVersioning": s3.VERSIONING,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": s3.ENCRYPTION,
    "aws:s3/bucketPolicy:BucketPolicy": s3.POLICY,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": s3.LIFECYCLE,
    "aws:s3/bucketLogging:BucketLogging": s3.LOGGING,
    "aws:s3/bucketNotification:BucketNotification": s3.NOTIFICATION,
    "aws:s3/bucketObject:BucketObject": s3.OBJECT,
    "aws:kms/key:Key": kms.KEY,
    "aws:kms/alias:Alias": kms.ALIAS,
    "aws:iam/role:Role": iam.ROLE,
    "aws:iam/rolePolicy:RolePolicy": iam.ROLE_POLICY,
    "aws:iam/policy:Policy": iam.POLICY,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": iam.ROLE_POLICY_ATTACHMENT,
    "aws:glue/catalogDatabase:CatalogDatabase": glue.DATABASE,
    "aws:glue/catalogTable:CatalogTable": glue.TABLE,
    "aws:glue/securityConfiguration:SecurityConfiguration": glue.SECURITY_CONFIGURATION,
    "aws:glue/job:Job": glue.JOB,
    "aws:glue/trigger:Trigger": glue.TRIGGER,
    "aws:cloudwatch/logGroup:LogGroup": cloudwatch.LOG_GROUP,
    "aws:cloudwatch/logStream:LogStream": cloudwatch.LOG_STREAM,
    "aws:cloudwatch/metricAlarm:MetricAlarm": cloudwatch.METRIC_ALARM,
    "aws:cloudwatch/dashboard:Dashboard": cloudwatch.DASHBOARD,
    "aws:sns/topic:Topic": sns.TOPIC,
    "aws:sns/topicPolicy:TopicPolicy": sns.TOPIC_POLICY,
    "aws:sns/topicSubscription:TopicSubscription": sns.SUBSCRIPTION,
    "aws:cloudwatch/eventBus:EventBus": events.EVENT_BUS,
    "aws:cloudwatch/eventRule:EventRule": events.EVENT_RULE,
    "aws:cloudwatch/eventTarget:EventTarget": events.EVENT_TARGET,
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": sagemaker.MODEL_PACKAGE_GROUP,
    "aws:sagemaker/pipeline:Pipeline": sagemaker.PIPELINE,
    "aws:sagemaker/model:Model": sagemaker.MODEL,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": sagemaker.ENDPOINT_CONFIGURATION,
    "aws:sagemaker/endpoint:Endpoint": sagemaker.ENDPOINT,
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": sagemaker.MLFLOW_TRACKING_SERVER,
    "aws:appautoscaling/target:Target": autoscaling.SCALABLE_TARGET,
    "aws:appautoscaling/policy:Policy": autoscaling.SCALING_POLICY,
    "aws:ecr/repository:Repository": ecr.REPOSITORY,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ecr.LIFECYCLE_POLICY,
    "aws:sqs/queue:Queue": sqs.QUEUE,
    "aws:sqs/queuePolicy:QueuePolicy": sqs.QUEUE_POLICY,
    "aws:codebuild/project:Project": codebuild.PROJECT,
    "aws:kinesis/stream:Stream": kinesis.STREAM,
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": kinesis.DELIVERY_STREAM,
    "aws:apigateway/restApi:RestApi": apigateway.REST_API,
    "aws:apigateway/resource:Resource": apigateway.RESOURCE,
    "aws:apigateway/requestValidator:RequestValidator": apigateway.REQUEST_VALIDATOR,
    "aws:apigateway/authorizer:Authorizer": apigateway.AUTHORIZER,
    "aws:apigateway/method:Method": apigateway.METHOD,
    "aws:apigateway/methodResponse:MethodResponse": apigateway.METHOD_RESPONSE,
    "aws:apigateway/integration:Integration": apigateway.INTEGRATION,
    "aws:apigateway/integrationResponse:IntegrationResponse": apigateway.INTEGRATION_RESPONSE,
    "aws:apigateway/response:Response": apigateway.GATEWAY_RESPONSE,
    "aws:apigateway/deployment:Deployment": apigateway.DEPLOYMENT,
    "aws:apigateway/stage:Stage": apigateway.STAGE,
    "aws:apigateway/methodSettings:MethodSettings": apigateway.METHOD_SETTINGS,
    "aws:apigateway/usagePlan:UsagePlan": apigateway.USAGE_PLAN,
    "aws:apigateway/apiKey:ApiKey": apigateway.API_KEY,
    "aws:apigateway/usagePlanKey:UsagePlanKey": apigateway.USAGE_PLAN_KEY,
    "aws:apigateway/vpcLink:VpcLink": apigateway.VPC_LINK,
    "aws:apigateway/domainName:DomainName": apigateway.DOMAIN_NAME,
    "aws:apigateway/basePathMapping:BasePathMapping": apigateway.BASE_PATH_MAPPING,
    "aws:apigateway/account:Account": apigateway.ACCOUNT,
}

# Types the sandbox knowingly does not realize (by type-token prefix), with the reason `sandbox status`
# prints. Any other type without a handler is a gap: the mapping test fails until it gets an entry.
DECLARED_ONLY: dict[str, str] = {
    "kubernetes:": "no Kubernetes cluster in the sandbox; `prodline preview --k8s-yaml` renders these objects",
    "pulumi:providers:": "a provider is configuration, not a cloud resource",
    "aws:budgets/budget:Budget": "an account-level budget; moto would hold it but never tracks spend or alerts, so "
                                 "`prodline cost` and the policy pack check it instead",
}

UNMAPPED = "the sandbox has no mapping for this type yet (add one to prodline/sandbox/realizer/registry.py)"


def is_declared_only(type_token: str) -> bool:
    return any(type_token.startswith(prefix) for prefix in DECLARED_ONLY)


def declared_only_reason(type_token: str) -> str:
    for prefix, reason in DECLARED_ONLY.items():
        if type_token.startswith(prefix):
            return reason
    return UNMAPPED
