"""What runs the network's four passes for the tracker: one object per backend
(`TrackerParams.backend`), each with the same named methods

    memorize(images, label_maps, keys=None) -> memory (1, M, 1, s, s)
    query_features(query) -> features (1, C, s, s)
    read_memory(features, memory) -> score, boxes_xyxy, cls_prob, ctr_prob
    first_frame_score(features, memory0, cell) -> (1, 1, 1) score of that cell

taking and returning torch tensors (CPU ones share their memory with the numpy arrays ONNX
Runtime reads and writes: no copies), so the tracker's memory bank and post-processing do not
depend on the backend. `channels_last` says the input layout the backend prefers; `name` the
backend it is (what `auto` chose: `auto_backend`).
"""
from __future__ import annotations

import contextlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from stmtrack_ros.model.head import cell_window

from .params import TrackerParams


class BackendError(RuntimeError):
    """A backend that cannot start here; the message is one line and says what to do."""


class TorchBackend:
    """PyTorch: the network itself (or its BN-folded channels_last copy), inference mode,
    CUDA autocast for fp16/bf16, optionally torch.compile'd (falling back to eager, with a
    warning, when compilation fails late)."""

    name = "torch"

    def __init__(self, net, params: TrackerParams, device: torch.device):
        self._net = net.optimized_copy() if params.optimize else net
        self.channels_last = self._net.channels_last
        self._device, self._params = device, params
        self._eager = (self._net.memorize, self._net.query_features, self._net.read_memory,
                       self._net.first_frame_score)
        self._passes = self._eager
        if params.compile:
            # the memory read takes T = 1..6 frames: dynamic; the fixed-size passes are static
            # (first_frame_score stays eager: its cell argument would recompile it per value)
            mem, query, read, first = self._eager
            self._passes = (torch.compile(mem), torch.compile(query),
                            torch.compile(read, dynamic=True), first)

    def _autocast(self):
        p = self._params
        if self._device.type == "cuda" and (p.fp16 or p.bf16):
            return torch.autocast("cuda", dtype=torch.float16 if p.fp16 else torch.bfloat16)
        return contextlib.nullcontext()

    def _run(self, index: int, *args):
        with torch.inference_mode(), self._autocast():
            try:
                return self._passes[index](*args)
            except Exception as e:  # torch.compile can fail late (no compiler); eager still works
                if self._passes is self._eager:
                    raise
                warnings.warn(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); "
                              "running eagerly", RuntimeWarning, stacklevel=3)
                self._passes = self._eager
                return self._passes[index](*args)

    def memorize(self, images, label_maps, keys=None):
        return self._run(0, images, label_maps, keys)

    def query_features(self, query):
        return self._run(1, query)

    def read_memory(self, features, memory):
        return self._run(2, features, memory)

    def first_frame_score(self, features, memory0, cell: int):
        return self._run(3, features, memory0, cell)


def _array(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's numpy view (a copy only when it is strided or on a GPU)."""
    a = t.detach().cpu().numpy()
    return a if a.flags.c_contiguous and a.dtype == np.float32 else \
        np.ascontiguousarray(a, dtype=np.float32)


class _ExportedPasses:
    """The four methods over the exported passes' inputs and outputs (model/export.py);
    a subclass holds one handle per pass and runs one with `_run(handle, feeds)`."""

    channels_last = False

    def _setup(self, config):
        self._keys, self._radius = bool(config.siamese_keys), config.head_convs

    def _run(self, handle, feeds: dict) -> list:
        raise NotImplementedError

    def memorize(self, images, label_maps, keys=None):
        feeds = {"images": images, "label_maps": label_maps}
        if self._keys:   # the keys are the query features of the same crop
            feeds["keys"] = keys if keys is not None else self.query_features(images)
        return self._run(self._memorize, feeds)[0]

    def query_features(self, query):
        return self._run(self._query, {"query": query})[0]

    def read_memory(self, features, memory):
        return tuple(self._run(self._read, {"features": features, "memory": memory}))

    def first_frame_score(self, features, memory0, cell: int):
        (r0, r1, c0, c1), k = cell_window(int(cell), features.shape[-1], self._radius)
        score = self._run(self._first, {"features": features[:, :, r0:r1, c0:c1],
                                        "memory0": memory0})[0]
        return score[:, k:k + 1]


class OnnxRuntimeBackend(_ExportedPasses):
    """ONNX Runtime on the exported passes (model/export.py): `onnx_dir`, or an export made on
    first use in the cache folder keyed by the weights' sha256. Sessions are built once: graph
    optimisation ALL, `threads` intra-op threads (0: torch's count), one inter-op thread,
    memory arena and patterns on, no spinning of idle threads (the cores are shared with the
    node's other work: spinning cost 1.5-3x wall time under load, as OpenMP's did for torch),
    subnormal floats flushed to zero (the same boxes on the clip). ONNX Runtime sets that flush
    for good in the thread that builds a session, so the sessions are built and run on a thread
    of this backend's own: the caller's threads keep IEEE floats (torch, numpy and the rest of
    the process compute as before).
    On CUDA (onnxruntime-gpu) inputs are bound where they lie (IO binding): untested here."""

    name = "onnxruntime"

    def __init__(self, net, params: TrackerParams, device: torch.device):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("backend onnxruntime needs the onnxruntime package (pip install "
                               "onnxruntime, or onnxruntime-gpu); or use backend torch") from None
        from stmtrack_ros.model.export import ExportError, ensure_exported, read_manifest
        self._setup(net.config)
        try:
            folder = ensure_exported(net, params.onnx_dir)
            manifest = read_manifest(folder)
        except ExportError as e:
            raise BackendError(str(e)) from None
        self.folder = folder
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = params.threads or torch.get_num_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.enable_cpu_mem_arena = True
        so.enable_mem_pattern = True
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # subnormal floats as zero: x86 is ~100x slower on them (see head.READ_LOGIT_RANGE)
        so.add_session_config_entry("session.set_denormal_as_zero", "1")
        self._cuda = device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers()
        if device.type == "cuda" and not self._cuda:
            warnings.warn("backend onnxruntime: this onnxruntime has no CUDA provider "
                          "(pip install onnxruntime-gpu); running on the CPU", RuntimeWarning,
                          stacklevel=3)
        providers = ([("CUDAExecutionProvider", {"device_id": device.index or 0})] if self._cuda
                     else []) + ["CPUExecutionProvider"]
        self._device_id = device.index or 0

        def session(name):
            path = folder / manifest["passes"][name]["file"]
            try:
                return ort.InferenceSession(str(path), so, providers=providers)
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own kinds
                first = (str(e).strip().splitlines() or [""])[0][:160]
                raise BackendError(f"onnxruntime cannot load {path} ({type(e).__name__}: "
                                   f"{first}); export again (stmtrack export) or use backend "
                                   "torch") from None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="onnxruntime")
        self._memorize, self._query, self._read, self._first = self._thread.submit(
            lambda: [session(n) for n in ("memorize", "query_features", "read_memory",
                                          "first_frame_score")]).result()

    def _run(self, sess, feeds: dict) -> list:
        return self._thread.submit(self._run_here, sess, feeds).result()

    def _run_here(self, sess, feeds: dict) -> list:
        if not self._cuda:
            return [torch.from_numpy(o) for o in sess.run(None, {n: _array(t) for n, t in feeds.items()})]
        binding = sess.io_binding()
        for name, t in feeds.items():
            t = t.detach().float().contiguous()
            binding.bind_input(name, t.device.type, t.device.index or 0, np.float32,
                               list(t.shape), t.data_ptr())
        for out in sess.get_outputs():
            binding.bind_output(out.name, "cuda", self._device_id)
        sess.run_with_iobinding(binding)
        return [torch.from_numpy(o) for o in binding.copy_outputs_to_cpu()]


class TensorRTBackend(_ExportedPasses):
    """TensorRT engines built by trtexec from the exported passes (docs/deploy.md), one
    `<pass>.engine` per pass in `onnx_dir`. Tensors stay on the GPU (torch CUDA tensors are
    the engines' buffers). Untested here (no GPU, no tensorrt): kept small on purpose."""

    def __init__(self, net, params: TrackerParams, device: torch.device):
        try:
            import tensorrt as trt
        except ImportError:
            raise BackendError("backend tensorrt needs the tensorrt Python package (JetPack's "
                               "python3-libnvinfer, or pip install tensorrt); use backend "
                               "onnxruntime or torch here") from None
        from stmtrack_ros.model.export import ExportError, engine_file, read_manifest
        self._setup(net.config)
        if device.type != "cuda":
            raise BackendError("backend tensorrt runs on a GPU: set device cuda (or use backend "
                               "onnxruntime on a CPU)")
        if not params.onnx_dir:
            raise BackendError("backend tensorrt needs onnx_dir: the folder of `stmtrack export` "
                               "with the engines trtexec built there (docs/deploy.md)")
        try:
            read_manifest(params.onnx_dir, net)
        except ExportError as e:
            raise BackendError(str(e)) from None
        folder = Path(params.onnx_dir)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._device = device

        def engine(name):
            path = folder / engine_file(name)
            if not path.is_file():
                raise BackendError(f"{path} is missing: build it with trtexec (stmtrack export "
                                   f"prints the command; docs/deploy.md)")
            e = runtime.deserialize_cuda_engine(path.read_bytes())
            if e is None:
                raise BackendError(f"{path} does not load on this TensorRT/GPU; rebuild it here")
            return e, e.create_execution_context()
        self._memorize, self._query = engine("memorize"), engine("query_features")
        self._read, self._first = engine("read_memory"), engine("first_frame_score")

    def _run(self, pair, feeds: dict) -> list:
        engine, ctx = pair
        keep = []
        for name, t in feeds.items():
            t = t.detach().to(self._device, torch.float32).contiguous()
            keep.append(t)
            ctx.set_input_shape(name, tuple(t.shape))
            ctx.set_tensor_address(name, t.data_ptr())
        outs = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if name in feeds:
                continue
            o = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=torch.float32, device=self._device)
            ctx.set_tensor_address(name, o.data_ptr())
            outs.append(o)
        stream = torch.cuda.current_stream(self._device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return outs


def auto_backend(net, params: TrackerParams, device: torch.device):
    """Backend `auto`: ONNX Runtime on a CPU (1.8x torch's tracking rate on the bundled model,
    docs/speed.md), torch on a GPU (TensorRT needs engines built on the board; docs/deploy.md).
    On a CPU it is torch, with one warning saying why, when a torch-only setting is asked or
    ONNX Runtime cannot start here (not installed, the export or a session fails)."""
    if device.type != "cpu":
        return TorchBackend(net, params, device)
    asked = params.torch_only()
    why = f"{' and '.join(asked)} {'applies' if len(asked) == 1 else 'apply'} to torch only" \
        if asked else ""
    if not why:
        try:
            return OnnxRuntimeBackend(net, params, device)
        except BackendError as e:
            why = str(e)
    warnings.warn(f"backend auto: running torch, not onnxruntime (the fast CPU backend): {why}",
                  RuntimeWarning, stacklevel=3)
    return TorchBackend(net, params, device)


def make_backend(net, params: TrackerParams, device: torch.device):
    """The backend `params.backend` names, built for `net` (an STMTrackNet in eval mode); its
    `name` says which one `auto` chose."""
    if params.backend == "auto":
        return auto_backend(net, params, device)
    if params.backend == "onnxruntime":
        return OnnxRuntimeBackend(net, params, device)
    if params.backend == "tensorrt":
        return TensorRTBackend(net, params, device)
    return TorchBackend(net, params, device)
