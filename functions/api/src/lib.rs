//! The API Lambda's adapter: the shared router ([`gras_shared::api`]) behind API Gateway
//! (HTTP API, payload v2) through `lambda_http`. API Gateway authorizes the mutating routes
//! with IAM (see `template.yaml`); this adapter turns the authorized identity of the request
//! context into the router's [`Caller`], which those routes require.

use axum::extract::Request;
use axum::Router;
use gras_shared::api::{router, ApiState, Caller};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

/// The identity API Gateway authorized: the IAM caller's ARN (or its caller id), or the
/// `sub` claim of a JWT authorizer. `None` when the route was not authorized.
pub fn caller_of(ctx: Option<&RequestContext>) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = ctx else {
        return None;
    };
    let auth = ctx.authorizer.as_ref()?;
    if let Some(iam) = &auth.iam {
        if let Some(who) = iam.user_arn.clone().or_else(|| iam.caller_id.clone()) {
            return Some(who);
        }
    }
    auth.jwt.as_ref().and_then(|j| j.claims.get("sub").cloned())
}

async fn inject_caller(mut req: Request) -> Request {
    if let Some(who) = caller_of(req.request_context_ref()) {
        req.extensions_mut().insert(Caller(who));
    }
    req
}

/// The router of the API Lambda: the shared routes, with the gateway's caller identity.
pub fn app(state: ApiState) -> Router {
    router(state).layer(axum::middleware::map_request(inject_caller))
}
