"""TF Serving's REST API for gpugraph: ``gpugraph serve --model_name=NAME --model_base_path=DIR``.

Modules: :mod:`~gpugraph.serving.model` (loaded versions, version policy, status),
:mod:`~gpugraph.serving.json_tensor` (request/response JSON), :mod:`~gpugraph.serving.batching`
(dynamic batching) and :mod:`~gpugraph.serving.server` (the Starlette app and uvicorn).

Example:
    $ gpugraph serve --model_name=mlp --model_base_path=/models/mlp --rest_api_port=8501
    $ curl -d '{"instances": [[0.1, 0.2, 0.3]]}' http://127.0.0.1:8501/v1/models/mlp:predict
"""
