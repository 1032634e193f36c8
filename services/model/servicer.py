"""ModelService over gRPC: proto in, domain call, proto out. The rules live in catalog.py, prices.py,
connections.py, eligibility.py, workspace_models.py and installs.py; RPCs not built yet
answer UNIMPLEMENTED."""

from __future__ import annotations

from geko.model.v1 import model_pb2, model_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = model_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


class ModelServicer(model_pb2_grpc.ModelServiceServicer):
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=ModelServicer(deps),
        add_to_server=model_pb2_grpc.add_ModelServiceServicer_to_server,
    )
