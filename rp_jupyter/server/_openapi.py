"""The OpenAPI 3 document of the public API (``GET /openapi.json``), written by hand."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_JOB_STATES = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]

_SCHEMAS: dict[str, Any] = {
    "Request": {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {"description": "passed to the handler as job['input']; must not be null"},
            "webhook": {"type": "string", "format": "uri", "description": "POSTed the result on completion"},
            "policy": {
                "type": "object",
                "properties": {
                    "executionTimeout": {"type": "integer", "minimum": 1, "description": "ms (default 600000)"},
                    "ttl": {"type": "integer", "minimum": 10000, "maximum": 604800000, "description": "ms"},
                },
            },
        },
    },
    "JobStatus": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": _JOB_STATES},
            "delayTime": {"type": "integer"},
            "executionTime": {"type": "integer"},
            "output": {},
            "error": {},
            "webhookDelivery": {
                "type": "object",
                "description": "rp_jupyter's extra, for a request with a webhook: what became of the delivery",
                "required": ["url", "state", "attempts"],
                "properties": {
                    "url": {"type": "string"},
                    "state": {"type": "string", "enum": ["PENDING", "DELIVERED", "FAILED"]},
                    "attempts": {"type": "integer"},
                    "error": {"type": "string"},
                },
            },
        },
    },
    "Stream": {
        "type": "object",
        "required": ["status", "stream"],
        "properties": {
            "status": {"type": "string", "enum": _JOB_STATES},
            "stream": {"type": "array", "items": {"type": "object", "properties": {"output": {}}}},
            "error": {},
        },
    },
    "Purge": {
        "type": "object",
        "properties": {"removed": {"type": "integer"}, "status": {"type": "string", "enum": ["completed"]}},
    },
    "Health": {
        "type": "object",
        "properties": {
            "jobs": {
                "type": "object",
                "properties": {
                    k: {"type": "integer"} for k in ("completed", "failed", "inProgress", "inQueue", "retried")
                },
            },
            "workers": {"type": "object", "properties": {"idle": {"type": "integer"}, "running": {"type": "integer"}}},
        },
    },
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
}

_ERRORS = {
    "400": "malformed JSON, no input, bad policy or webhook",
    "401": "missing or wrong API key",
    "403": "a foreign Host on a loopback bind, or a web page's Origin that was not allowed",
    "404": "unknown endpoint, or unknown (or expired) job id",
    "409": "the job's state does not allow it (retry)",
    "413": "over RunPod's payload limit",
    "405": "method not allowed on this route",
    "415": "not JSON",
    "503": "the server is stopping, or the runtime is shutting down",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(summary: str, schema: str, body: bool = False, job_id: bool = False) -> dict[str, Any]:
    parameters = [{"name": "endpoint", "in": "path", "required": True, "schema": {"type": "string"}}]
    if job_id:
        parameters.append({"name": "id", "in": "path", "required": True, "schema": {"type": "string"}})
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}},
            **{code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
               for code, text in _ERRORS.items()},
        },
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref("Request")}}}
    return operation


def openapi_document() -> dict[str, Any]:
    """The document; every route is under ``/v2/{endpoint}`` (the endpoint id is the handler's name)."""
    runsync = _operation("Run a job and wait for it (?wait=ms, 1000–300000, default 90000)", "JobStatus", body=True)
    runsync["parameters"].append({"name": "wait", "in": "query", "required": False, "schema": {"type": "integer"}})
    status = _operation("A job's status", "JobStatus", job_id=True)
    status_sync = _operation("A job's status once it ends, or after ?wait=ms (1000–300000, default 90000)",
                             "JobStatus", job_id=True)
    status_sync["parameters"].append({"name": "wait", "in": "query", "required": False, "schema": {"type": "integer"}})
    stream = _operation("Chunks produced since the previous call", "Stream", job_id=True)
    paths = {
        "/v2/{endpoint}/run": {"post": _operation("Queue a job", "JobStatus", body=True)},
        "/v2/{endpoint}/runsync": {"post": runsync},
        "/v2/{endpoint}/status/{id}": {"get": status, "post": status},
        "/v2/{endpoint}/status-sync/{id}": {"get": status_sync, "post": status_sync},
        "/v2/{endpoint}/stream/{id}": {"get": stream, "post": stream},
        "/v2/{endpoint}/cancel/{id}": {"post": _operation("Cancel a job", "JobStatus", job_id=True)},
        "/v2/{endpoint}/retry/{id}": {"post": _operation("Requeue a FAILED or TIMED_OUT job", "JobStatus", job_id=True)},
        "/v2/{endpoint}/purge-queue": {"post": _operation("Remove the queued jobs", "Purge")},
        "/v2/{endpoint}/health": {"get": _operation("Job counts and workers", "Health")},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "rp_jupyter: RunPod's endpoint API served from the notebook", "version": "v2"},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
        "security": [{"apiKey": []}],
    }
