"""API Gateway (REST APIs): the front door's API, routes, integrations, stage, usage plan and keys.

moto holds every definition and answers reads of them; it serves no request. The sandbox gateway's front door
(``prodline.sandbox.gateway.front_door``) reads these definitions back and serves the API by them. Children of
a REST API (resources, methods, integrations ...) go with it when it is deleted, so their deletes tolerate an
API that is already gone.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import ClientError

from prodline.sandbox.realizer.base import Context, Handler, as_int, drop_none, tag_map

TAGS = ("tags",)


def _gone_ok(call: Callable[[], object]) -> None:
    """Delete a child of an API: an API deleted first took it with it."""
    try:
        call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NotFoundException", "NotFound"):
            raise


def _client(ctx: Context):
    return ctx.clients("apigateway")


def _rest_api(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=128)
    api = _client(ctx).create_rest_api(**drop_none({
        "name": name, "description": inputs.get("description"), "apiKeySource": inputs.get("apiKeySource"),
        "binaryMediaTypes": inputs.get("binaryMediaTypes"),
        "endpointConfiguration": {"types": [inputs["endpointConfiguration"]["types"]]}
        if inputs.get("endpointConfiguration") else None,
        "disableExecuteApiEndpoint": inputs.get("disableExecuteApiEndpoint"),
        "tags": tag_map(inputs) or None}))
    ident = api["id"]
    return ident, {"id": ident, "name": name, "rootResourceId": api["rootResourceId"],
                   "arn": f"arn:aws:apigateway:{ctx.region}::/restapis/{ident}",
                   "executionArn": f"arn:aws:execute-api:{ctx.region}:{ctx.account}:{ident}"}


REST_API = Handler(_rest_api, lambda ctx, ident, _: _gone_ok(lambda: _client(ctx).delete_rest_api(restApiId=ident)),
                   carries=("name", "description", "apiKeySource", "binaryMediaTypes", "endpointConfiguration.types",
                            "disableExecuteApiEndpoint", *TAGS))


def _resource(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_resource(restApiId=inputs["restApi"], parentId=inputs["parentId"],
                                        pathPart=inputs["pathPart"])
    return made["id"], {"id": made["id"], "path": made["path"], "restApi": inputs["restApi"]}


RESOURCE = Handler(_resource, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_resource(restApiId=out["restApi"], resourceId=ident)),
    carries=("restApi", "parentId", "pathPart"))


def _request_validator(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_request_validator(**drop_none({
        "restApiId": inputs["restApi"], "name": inputs.get("name") or ctx.physical(urn, logical),
        "validateRequestBody": inputs.get("validateRequestBody"),
        "validateRequestParameters": inputs.get("validateRequestParameters")}))
    return made["id"], {"id": made["id"], "restApi": inputs["restApi"]}


REQUEST_VALIDATOR = Handler(_request_validator, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_request_validator(restApiId=out["restApi"], requestValidatorId=ident)),
    carries=("restApi", "name", "validateRequestBody", "validateRequestParameters"))


def _authorizer(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_authorizer(**drop_none({
        "restApiId": inputs["restApi"], "name": inputs["name"], "type": inputs["type"],
        "providerARNs": inputs.get("providerArns"), "identitySource": inputs.get("identitySource"),
        "authorizerUri": inputs.get("authorizerUri"), "authorizerCredentials": inputs.get("authorizerCredentials"),
        "authorizerResultTtlInSeconds": as_int(inputs.get("authorizerResultTtlInSeconds"))}))
    return made["id"], {"id": made["id"], "restApi": inputs["restApi"]}


AUTHORIZER = Handler(_authorizer, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_authorizer(restApiId=out["restApi"], authorizerId=ident)),
    carries=("restApi", "name", "type", "providerArns", "identitySource", "authorizerUri", "authorizerCredentials",
             "authorizerResultTtlInSeconds"))


def _method(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).put_method(**drop_none({
        "restApiId": inputs["restApi"], "resourceId": inputs["resourceId"], "httpMethod": inputs["httpMethod"],
        "authorizationType": inputs["authorization"], "authorizerId": inputs.get("authorizerId"),
        "apiKeyRequired": inputs.get("apiKeyRequired"), "requestParameters": inputs.get("requestParameters"),
        "requestValidatorId": inputs.get("requestValidatorId")}))
    ident = f"{inputs['restApi']}/{inputs['resourceId']}/{inputs['httpMethod']}"
    return ident, {"id": ident, "httpMethod": inputs["httpMethod"], "restApi": inputs["restApi"],
                   "resourceId": inputs["resourceId"]}


def _delete_method(ctx: Context, ident: str, out: dict) -> None:
    _gone_ok(lambda: _client(ctx).delete_method(restApiId=out["restApi"], resourceId=out["resourceId"],
                                                httpMethod=out["httpMethod"]))


METHOD = Handler(_method, _delete_method,
                 carries=("restApi", "resourceId", "httpMethod", "authorization", "authorizerId", "apiKeyRequired",
                          "requestParameters", "requestValidatorId"))


def _method_response(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).put_method_response(**drop_none({
        "restApiId": inputs["restApi"], "resourceId": inputs["resourceId"], "httpMethod": inputs["httpMethod"],
        "statusCode": inputs["statusCode"], "responseParameters": inputs.get("responseParameters"),
        "responseModels": inputs.get("responseModels")}))
    ident = f"{inputs['restApi']}/{inputs['resourceId']}/{inputs['httpMethod']}/{inputs['statusCode']}"
    return ident, {"id": ident}


METHOD_RESPONSE = Handler(_method_response, carries=(  # deleted with its method
    "restApi", "resourceId", "httpMethod", "statusCode", "responseParameters", "responseModels"))


def _integration(ctx: Context, urn: str, logical: str, inputs: dict):
    timeout = as_int(inputs.get("timeoutMilliseconds"))
    _client(ctx).put_integration(**drop_none({
        "restApiId": inputs["restApi"], "resourceId": inputs["resourceId"], "httpMethod": inputs["httpMethod"],
        "type": inputs["type"], "integrationHttpMethod": inputs.get("integrationHttpMethod"),
        "uri": inputs.get("uri"), "credentials": inputs.get("credentials"),
        "connectionType": inputs.get("connectionType"), "connectionId": inputs.get("connectionId"),
        "requestParameters": inputs.get("requestParameters"), "requestTemplates": inputs.get("requestTemplates"),
        "passthroughBehavior": inputs.get("passthroughBehavior"), "contentHandling": inputs.get("contentHandling"),
        "timeoutInMillis": timeout}))
    ident = f"{inputs['restApi']}/{inputs['resourceId']}/{inputs['httpMethod']}/integration"
    return ident, {"id": ident}


INTEGRATION = Handler(_integration, carries=(  # deleted with its method
    "restApi", "resourceId", "httpMethod", "type", "integrationHttpMethod", "uri", "credentials", "connectionType",
    "connectionId", "requestParameters", "requestTemplates", "passthroughBehavior", "contentHandling",
    "timeoutMilliseconds"))


def _integration_response(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).put_integration_response(**drop_none({
        "restApiId": inputs["restApi"], "resourceId": inputs["resourceId"], "httpMethod": inputs["httpMethod"],
        "statusCode": inputs["statusCode"], "selectionPattern": inputs.get("selectionPattern"),
        "responseParameters": inputs.get("responseParameters"), "responseTemplates": inputs.get("responseTemplates"),
        "contentHandling": inputs.get("contentHandling")}))
    ident = f"{inputs['restApi']}/{inputs['resourceId']}/{inputs['httpMethod']}/{inputs['statusCode']}/integration"
    return ident, {"id": ident}


INTEGRATION_RESPONSE = Handler(_integration_response, carries=(  # deleted with its method
    "restApi", "resourceId", "httpMethod", "statusCode", "selectionPattern", "responseParameters",
    "responseTemplates", "contentHandling"))


def _gateway_response(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).put_gateway_response(**drop_none({
        "restApiId": inputs["restApiId"], "responseType": inputs["responseType"],
        "statusCode": inputs.get("statusCode"), "responseParameters": inputs.get("responseParameters"),
        "responseTemplates": inputs.get("responseTemplates")}))
    ident = f"{inputs['restApiId']}/{inputs['responseType']}"
    return ident, {"id": ident}


GATEWAY_RESPONSE = Handler(_gateway_response, carries=(  # deleted with its API
    "restApiId", "responseType", "statusCode", "responseParameters", "responseTemplates"))


def _deployment(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_deployment(**drop_none({
        "restApiId": inputs["restApi"], "description": inputs.get("description"),
        "variables": inputs.get("variables")}))
    return made["id"], {"id": made["id"], "restApi": inputs["restApi"]}


DEPLOYMENT = Handler(_deployment, carries=("restApi", "description", "variables"),  # deleted with its API
                     recorded={"triggers": "what makes the engine redeploy; the realizer replaces on any change"})


def _stage(ctx: Context, urn: str, logical: str, inputs: dict):
    api, name = inputs["restApi"], inputs["stageName"]
    client = _client(ctx)
    client.create_stage(**drop_none({
        "restApiId": api, "stageName": name, "deploymentId": inputs["deployment"],
        "description": inputs.get("description"), "variables": inputs.get("variables"),
        "tracingEnabled": inputs.get("xrayTracingEnabled"), "tags": tag_map(inputs) or None,
        "cacheClusterEnabled": inputs.get("cacheClusterEnabled")}))
    logs = inputs.get("accessLogSettings")
    if logs:  # CreateStage takes no access log settings: AWS and Pulumi set them with UpdateStage
        client.update_stage(restApiId=api, stageName=name, patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": logs["destinationArn"]},
            {"op": "replace", "path": "/accessLogSettings/format", "value": logs["format"]}])
    ident = f"ags-{api}-{name}"
    return ident, {"id": ident, "stageName": name, "restApi": api,
                   "arn": f"arn:aws:apigateway:{ctx.region}::/restapis/{api}/stages/{name}",
                   "invokeUrl": f"https://{api}.execute-api.{ctx.region}.amazonaws.com/{name}",
                   "executionArn": f"arn:aws:execute-api:{ctx.region}:{ctx.account}:{api}/{name}"}


STAGE = Handler(_stage, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_stage(restApiId=out["restApi"], stageName=out["stageName"])),
    carries=("restApi", "stageName", "deployment", "description", "variables", "xrayTracingEnabled",
             "cacheClusterEnabled", "accessLogSettings.destinationArn", "accessLogSettings.format", *TAGS))

_SETTING_PATHS = {
    "throttlingRateLimit": "throttling/rateLimit", "throttlingBurstLimit": "throttling/burstLimit",
    "metricsEnabled": "metrics/enabled", "loggingLevel": "logging/loglevel", "dataTraceEnabled": "logging/dataTrace",
    "cachingEnabled": "caching/enabled", "cacheTtlInSeconds": "caching/ttlInSeconds",
    "cacheDataEncrypted": "caching/dataEncrypted",
}


def _setting_text(key: str, value: object) -> str:
    """A setting as UpdateStage's patch value: booleans lower-case, counts whole (numbers arrive as floats)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(int(value)) if key in ("throttlingBurstLimit", "cacheTtlInSeconds") else str(value)


def _method_settings(ctx: Context, urn: str, logical: str, inputs: dict):
    """What the provider does: one UpdateStage patch per setting, under ``/<method path>/``."""
    path = inputs["methodPath"]
    patches = [{"op": "replace", "path": f"/{path}/{_SETTING_PATHS[key]}", "value": _setting_text(key, value)}
               for key, value in sorted((inputs.get("settings") or {}).items())]
    _client(ctx).update_stage(restApiId=inputs["restApi"], stageName=inputs["stageName"], patchOperations=patches)
    ident = f"{inputs['restApi']}-{inputs['stageName']}-{path}"
    return ident, {"id": ident}


METHOD_SETTINGS = Handler(_method_settings, carries=(  # deleted with its stage
    "restApi", "stageName", "methodPath", *(f"settings.{key}" for key in _SETTING_PATHS)))


def _usage_plan(ctx: Context, urn: str, logical: str, inputs: dict):
    throttle, quota = inputs.get("throttleSettings"), inputs.get("quotaSettings")
    made = _client(ctx).create_usage_plan(**drop_none({
        "name": inputs.get("name") or ctx.physical(urn, logical), "description": inputs.get("description"),
        "apiStages": [{"apiId": s["apiId"], "stage": s["stage"]} for s in inputs.get("apiStages") or []],
        "throttle": drop_none({"rateLimit": throttle.get("rateLimit"),
                               "burstLimit": as_int(throttle.get("burstLimit"))}) if throttle else None,
        "quota": drop_none({"limit": as_int(quota["limit"]), "period": quota["period"],
                            "offset": as_int(quota.get("offset"))}) if quota else None,
        "tags": tag_map(inputs) or None}))
    return made["id"], {"id": made["id"], "arn": f"arn:aws:apigateway:{ctx.region}::/usageplans/{made['id']}"}


USAGE_PLAN = Handler(_usage_plan, lambda ctx, ident, _: _gone_ok(
    lambda: _client(ctx).delete_usage_plan(usagePlanId=ident)),
    carries=("name", "description", "apiStages.apiId", "apiStages.stage", "throttleSettings.rateLimit",
             "throttleSettings.burstLimit", "quotaSettings.limit", "quotaSettings.period", "quotaSettings.offset",
             *TAGS))


def _api_key(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_api_key(**drop_none({
        "name": inputs.get("name") or ctx.physical(urn, logical), "description": inputs.get("description"),
        "enabled": inputs.get("enabled", True), "value": inputs.get("value"), "customerId": inputs.get("customerId"),
        "tags": tag_map(inputs) or None}))
    return made["id"], {"id": made["id"], "name": made["name"], "value": made["value"],
                        "arn": f"arn:aws:apigateway:{ctx.region}::/apikeys/{made['id']}"}


API_KEY = Handler(_api_key, lambda ctx, ident, _: _gone_ok(lambda: _client(ctx).delete_api_key(apiKey=ident)),
                  carries=("name", "description", "enabled", "value", "customerId", *TAGS))


def _usage_plan_key(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).create_usage_plan_key(usagePlanId=inputs["usagePlanId"], keyId=inputs["keyId"],
                                       keyType=inputs["keyType"])
    return inputs["keyId"], {"id": inputs["keyId"], "usagePlanId": inputs["usagePlanId"]}


USAGE_PLAN_KEY = Handler(_usage_plan_key, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_usage_plan_key(usagePlanId=out["usagePlanId"], keyId=ident)),
    carries=("usagePlanId", "keyId", "keyType"))


def _vpc_link(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_vpc_link(**drop_none({
        "name": inputs["name"], "description": inputs.get("description"), "targetArns": [inputs["targetArn"]],
        "tags": tag_map(inputs) or None}))
    return made["id"], {"id": made["id"], "arn": f"arn:aws:apigateway:{ctx.region}::/vpclinks/{made['id']}"}


VPC_LINK = Handler(_vpc_link, lambda ctx, ident, _: _gone_ok(lambda: _client(ctx).delete_vpc_link(vpcLinkId=ident)),
                   carries=("name", "description", "targetArn", *TAGS))


def _domain_name(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["domainName"]
    made = _client(ctx).create_domain_name(**drop_none({
        "domainName": name, "regionalCertificateArn": inputs.get("regionalCertificateArn"),
        "endpointConfiguration": {"types": [inputs["endpointConfiguration"]["types"]]}
        if inputs.get("endpointConfiguration") else None,
        "securityPolicy": inputs.get("securityPolicy"), "tags": tag_map(inputs) or None}))
    return name, {"id": name, "domainName": name, "regionalDomainName": made.get("regionalDomainName", ""),
                  "arn": f"arn:aws:apigateway:{ctx.region}::/domainnames/{name}"}


DOMAIN_NAME = Handler(_domain_name, lambda ctx, name, _: _gone_ok(
    lambda: _client(ctx).delete_domain_name(domainName=name)),
    carries=("domainName", "regionalCertificateArn", "endpointConfiguration.types", "securityPolicy", *TAGS))


def _base_path_mapping(ctx: Context, urn: str, logical: str, inputs: dict):
    made = _client(ctx).create_base_path_mapping(**drop_none({
        "domainName": inputs["domainName"], "restApiId": inputs["restApi"], "stage": inputs.get("stageName"),
        "basePath": inputs.get("basePath")}))
    return f"{inputs['domainName']}/{made.get('basePath', '(none)')}", {"domainName": inputs["domainName"],
                                                                         "basePath": made.get("basePath", "(none)")}


BASE_PATH_MAPPING = Handler(_base_path_mapping, lambda ctx, ident, out: _gone_ok(
    lambda: _client(ctx).delete_base_path_mapping(domainName=out["domainName"], basePath=out["basePath"])),
    carries=("domainName", "restApi", "stageName", "basePath"))



def _account(ctx: Context, urn: str, logical: str, inputs: dict):
    _client(ctx).update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": inputs["cloudwatchRoleArn"]}])
    return "api-gateway-account", {"id": "api-gateway-account", "cloudwatchRoleArn": inputs["cloudwatchRoleArn"]}


ACCOUNT = Handler(_account, carries=("cloudwatchRoleArn",))  # an account setting: nothing to delete
