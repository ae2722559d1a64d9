"""Generate AdapterHub (`adapters` 1.3.0) golden fixtures for hubcli's tests.

Run through `bash tests/golden/make_adapterhub_goldens.sh` (it sets up the separate venv with
adapters==1.3.0 / transformers 4.57.x / torch 2.13.0). Everything is built from configs: no network.

Output (wiped and rewritten on every run): tests/golden/adapterhub/
    manifest.json                      every case, versions, seeds, randomisation rule
    <model>/base/                      config.json + model.safetensors of the tiny base model
    <model>/inputs.json                input_ids + attention_mask used for every case of that model
    <model>/adapters/<name>/           directories written by save_adapter / save_adapter_fusion /
                                       save_adapter_setup
    <model>/expected/<case>.safetensors  float32 outputs (last_hidden_state, logits for heads)

Determinism: torch.set_num_threads(1), eager attention, every case seeds torch from a CRC32 of its
own name (so adding a case does not change the others), models in eval() mode, no dropout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
import zlib
from pathlib import Path

import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import adapters  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
from adapters import (  # noqa: E402
    AutoAdapterModel,
    BnConfig,
    IA3Config,
    LoRAConfig,
    ParBnConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    SeqBnConfig,
)
from adapters.composition import (  # noqa: E402
    Average,
    BatchSplit,
    Fuse,
    Parallel,
    Split,
    Stack,
)
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    BertConfig,
    GPT2Config,
    LlamaConfig,
    RobertaConfig,
)

logging.getLogger("adapters").setLevel(logging.ERROR)  # "adapters available but none activated" noise
transformers.logging.set_verbosity_error()

GLOBAL_SEED = 1234
PERTURB_STD = 0.2  # every adapter/head/fusion parameter p is replaced by p + PERTURB_STD * N(0, 1)
ATTN_IMPL = "eager"
INIT_RANGE = 0.2
HERE = Path(__file__).resolve().parent
OUT = HERE / "adapterhub"


# --------------------------------------------------------------------------------------------
# Base models
# --------------------------------------------------------------------------------------------


def base_configs():
    # initializer_range 0.2 (not the default 0.02) so that attention is far from uniform and
    # every adapter has a visible effect on the outputs.
    common = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=INIT_RANGE)
    return {
        "bert": BertConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            max_position_embeddings=64,
            **common,
        ),
        "roberta": RobertaConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            max_position_embeddings=66,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            **common,
        ),
        "gpt2": GPT2Config(
            vocab_size=100,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_inner=37,
            n_positions=64,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            initializer_range=INIT_RANGE,
        ),
        "llama": LlamaConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=37,
            max_position_embeddings=64,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
            initializer_range=INIT_RANGE,
        ),
    }


ENCODERS = {"bert", "roberta"}


def seed_for(name: str) -> int:
    return (GLOBAL_SEED * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def make_inputs(model_key: str, cfg) -> dict:
    g = torch.Generator().manual_seed(seed_for(f"{model_key}/inputs"))
    input_ids = torch.randint(3, 100, (2, 7), generator=g)
    attention_mask = torch.ones(2, 7, dtype=torch.long)
    if model_key in ENCODERS:
        # Row 1 has one padded position at the end; that position holds the pad token.
        attention_mask[1, -1] = 0
        input_ids[1, -1] = cfg.pad_token_id
    return {"input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist()}


def model_name_for(base_dir: Path) -> str:
    # Written by adapters into adapter_config.json "model_name" (instead of the local path).
    return f"hubcli-golden/tiny-{base_dir.parent.name}"


def load_base(base_dir: Path):
    m = AutoModel.from_pretrained(str(base_dir), attn_implementation=ATTN_IMPL)
    m.config._name_or_path = model_name_for(base_dir)
    m.eval()
    return m


def load_adapter_model(base_dir: Path):
    m = AutoAdapterModel.from_pretrained(str(base_dir), attn_implementation=ATTN_IMPL)
    m.config._name_or_path = model_name_for(base_dir)
    m.eval()
    return m


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def param_names(model) -> set:
    return {n for n, _ in model.named_parameters()}


@torch.no_grad()
def perturb_new_params(model, before: set, seed_name: str) -> list:
    """Perturb every parameter that was not in `before` (i.e. added by the adapter/head/fusion)."""
    gen = torch.Generator().manual_seed(seed_for(seed_name))
    changed = []
    for n, p in model.named_parameters():
        if n in before:
            continue
        noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype)
        p.add_(noise * PERTURB_STD)
        changed.append(n)
    if not changed:
        raise RuntimeError(f"{seed_name}: no new parameters found to randomise")
    return changed


def tensors_of(inputs: dict):
    return (
        torch.tensor(inputs["input_ids"], dtype=torch.long),
        torch.tensor(inputs["attention_mask"], dtype=torch.long),
    )


@torch.no_grad()
def run_base_model(model, inputs: dict) -> dict:
    ids, mask = tensors_of(inputs)
    out = model(input_ids=ids, attention_mask=mask)
    return {"last_hidden_state": out.last_hidden_state.float().contiguous()}


@torch.no_grad()
def run_head_model(model, inputs: dict, head: str) -> dict:
    ids, mask = tensors_of(inputs)
    out = model(input_ids=ids, attention_mask=mask, head=head, output_hidden_states=True)
    return {
        "logits": out.logits.float().contiguous(),
        "last_hidden_state": out.hidden_states[-1].float().contiguous(),
    }


def rel(p: Path) -> str:
    return str(p.relative_to(OUT))


def config_record(cfg):
    """The adapter config as passed to add_adapter, in JSON form."""
    if isinstance(cfg, str):
        return cfg
    kwargs = getattr(cfg, "_golden_kwargs", None)
    return {"class": type(cfg).__name__, "kwargs": kwargs if kwargs is not None else {}}


def mk(cls, **kwargs):
    cfg = cls(**kwargs)
    object.__setattr__(cfg, "_golden_kwargs", kwargs)
    return cfg


def comp_python(block) -> str:
    if isinstance(block, str):
        return repr(block)
    args = [comp_python(c) for c in block.children]
    if isinstance(block, Split):
        args.append(f"splits={block.splits!r}")
    if isinstance(block, BatchSplit):
        args.append(f"batch_sizes={block.batch_sizes!r}")
    if isinstance(block, Average):
        args.append(f"weights={block.weights!r}")
    return f"{type(block).__name__}({', '.join(args)})"


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def weight_summary(adir: Path) -> dict:
    """Key -> shape for every weights file of a saved adapter directory."""
    res = {}
    for f in sorted(adir.iterdir()):
        if f.suffix == ".bin":
            sd = torch.load(f, map_location="cpu", weights_only=True)
        elif f.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(f))
        else:
            continue
        res[f.name] = {k: list(v.shape) for k, v in sd.items()}
    return res


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


def single_adapter_configs(model_key: str) -> dict:
    cfgs = {
        "seq_bn": "seq_bn",
        "seq_bn_2": "seq_bn",
        "seq_bn_3": "seq_bn",
        "double_seq_bn": "double_seq_bn",
        "par_bn": "par_bn",
        # Non-default bottleneck maths: both adapter locations, own LNs, original LN before
        # and not after, residual after the LN, gelu, scaling 0.5, reduction 4.
        "bn_custom": mk(
            BnConfig,
            mh_adapter=True,
            output_adapter=True,
            reduction_factor=4,
            non_linearity="gelu",
            original_ln_before=True,
            original_ln_after=False,
            residual_before_ln=False,
            ln_before=True,
            ln_after=True,
            adapter_residual_before_ln=True,
            scaling=0.5,
        ),
        # Sequential, swish, reduction 8, learned per-channel scaling, layer 1 left out.
        "bn_channel": mk(
            SeqBnConfig,
            reduction_factor=8,
            non_linearity="swish",
            scaling="channel",
            leave_out=[1],
        ),
        # residual_before_ln="post_add": the adapter residual is taken after the sub-block's
        # residual add but before the original LN (needs a post-LN model: BERT/RoBERTa).
        "bn_post_add": mk(SeqBnConfig, residual_before_ln="post_add"),
        # Parallel with "learned" scalar scaling and gating.
        "par_bn_learned": mk(
            ParBnConfig,
            reduction_factor=4,
            scaling="learned",
            use_gating=True,
        ),
        "lora": mk(LoRAConfig, r=4, alpha=8, attn_matrices=["q", "v"]),
        "lora_2": mk(LoRAConfig, r=4, alpha=8, attn_matrices=["q", "v"]),
        "lora_full": mk(
            LoRAConfig,
            r=4,
            alpha=16,
            attn_matrices=["q", "k", "v"],
            selfattn_lora=True,
            intermediate_lora=True,
            output_lora=True,
        ),
        "ia3": mk(IA3Config),
        "prefix_tuning": mk(PrefixTuningConfig, prefix_length=5, bottleneck_size=16),
        "prefix_tuning_flat": mk(PrefixTuningConfig, prefix_length=5, flat=True),
    }
    if model_key in ENCODERS:
        cfgs["prompt_tuning"] = mk(PromptTuningConfig, prompt_length=4)
    return cfgs


SAFETENSORS_COPIES = {"seq_bn", "lora", "ia3", "prefix_tuning"}

COMPOSITIONS = [
    # (case suffix, composition block)
    ("stack", lambda a, b: Stack(a, b)),
    ("parallel", lambda a, b: Parallel(a, b)),
    ("average", lambda a, b: Average(a, b)),
    ("average_weighted", lambda a, b: Average(a, b, weights=[0.7, 0.3])),
    ("split", lambda a, b: Split(a, b, splits=[4, 3])),
    ("batch_split", lambda a, b: BatchSplit(a, b, batch_sizes=[1, 1])),
]
COMPOSITION_PAIRS = {"bn": ("seq_bn", "seq_bn_2"), "lora": ("lora", "lora_2")}


class Generator:
    def __init__(self):
        self.cases = []
        self.skipped = []
        self.adapter_dirs = {}  # (model, name) -> {"dir", "config"}

    def skip(self, case_id: str, why: str):
        print(f"SKIP {case_id}: {why}", flush=True)
        self.skipped.append({"id": case_id, "reason": why})

    def save_expected(self, model_key: str, case: str, tensors: dict) -> Path:
        path = OUT / model_key / "expected" / f"{case}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
        return path

    def add_case(self, **rec):
        print(f"CASE {rec['id']}  max|diff vs base|={rec.get('max_abs_diff_vs_base')}", flush=True)
        self.cases.append(rec)

    # ----------------------------------------------------------------------------------------
    def run_model(self, model_key: str, cfg):
        mdir = OUT / model_key
        base_dir = mdir / "base"
        (mdir / "adapters").mkdir(parents=True, exist_ok=True)  # adapters' save uses a plain mkdir
        torch.manual_seed(seed_for(f"{model_key}/base"))
        cfg._attn_implementation = ATTN_IMPL
        base = AutoModel.from_config(cfg, attn_implementation=ATTN_IMPL)
        base.eval()
        base.save_pretrained(str(base_dir), safe_serialization=True)
        inputs = make_inputs(model_key, cfg)
        (mdir / "inputs.json").write_text(json.dumps(inputs, indent=1) + "\n")
        inp_rel = rel(mdir / "inputs.json")

        base_out = run_base_model(load_base(base_dir), inputs)
        # The base must be reproducible from base/ alone.
        assert max_diff(base_out, run_base_model(base, inputs)) == 0.0
        p = self.save_expected(model_key, "base", base_out)
        self.add_case(
            id=f"{model_key}/base",
            model=model_key,
            kind="base",
            base_model_dir=rel(base_dir),
            model_class=type(base).__name__,
            adapters=[],
            active=None,
            composition=None,
            head=None,
            input=inp_rel,
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in base_out.items()},
        )
        ctx = dict(model_key=model_key, base_dir=base_dir, inputs=inputs, inp_rel=inp_rel, base_out=base_out)

        for name, acfg in single_adapter_configs(model_key).items():
            self.guard(f"{model_key}/{name}", self.single_case, ctx, name, acfg)
        for kind, (a, b) in COMPOSITION_PAIRS.items():
            for suffix, fn in COMPOSITIONS:
                self.guard(f"{model_key}/{kind}_{suffix}", self.composition_case, ctx, kind, suffix, a, b, fn)
        self.guard(f"{model_key}/fusion", self.fusion_case, ctx)
        self.guard(f"{model_key}/setup_stack", self.setup_case, ctx)
        for name, acfg in (("seq_bn_head", "seq_bn"), ("lora_head", mk(LoRAConfig, r=4, alpha=8))):
            self.guard(f"{model_key}/{name}", self.head_case, ctx, name, acfg)

    def guard(self, case_id, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a case adapters cannot do is recorded as skipped
            if os.environ.get("GOLDENS_VERBOSE"):
                traceback.print_exc()
            last = traceback.extract_tb(e.__traceback__)[-1]
            where = (
                f" (raised in adapters {Path(last.filename).name}:{last.name})"
                if "adapters" in last.filename
                else ""
            )
            msg = (str(e).strip().splitlines() or [""])[0][:300]
            self.skip(case_id, f"{type(e).__name__}: {msg}{where}")

    # ----------------------------------------------------------------------------------------
    def single_case(self, ctx, name, acfg):
        mk_, base_dir, inputs = ctx["model_key"], ctx["base_dir"], ctx["inputs"]
        case_id = f"{mk_}/{name}"
        model = load_base(base_dir)
        adapters.init(model)
        before = param_names(model)
        model.add_adapter(name, config=acfg)
        changed = perturb_new_params(model, before, case_id)
        model.set_active_adapters(name)
        model.eval()
        out = run_base_model(model, inputs)

        adir = OUT / mk_ / "adapters" / name
        model.save_adapter(str(adir), name)
        dirs = [adir]
        if name in SAFETENSORS_COPIES:
            sdir = OUT / mk_ / "adapters" / f"{name}_safetensors"
            try:
                model.save_adapter(str(sdir), name, use_safetensors=True)
                dirs.append(sdir)
            except RuntimeError as e:
                # adapters 1.3.0: prefix tuning shares one pool module under several keys, and
                # safetensors refuses tensors that share memory.
                shutil.rmtree(sdir, ignore_errors=True)
                self.skip(
                    f"{case_id}_safetensors",
                    f"save_adapter(use_safetensors=True) failed: {str(e).strip().splitlines()[0][:200]}",
                )

        extra = {}
        if name == "prefix_tuning":
            # Saved as-is: the reparametrised form (wte + control_trans MLP). Also eject to the
            # flat form (what adapters' eject_prefix_tuning produces) and save that copy.
            edir = OUT / mk_ / "adapters" / f"{name}_ejected"
            try:
                model.eject_prefix_tuning(name)
                out_ej = run_base_model(model, inputs)
                extra["eject_max_abs_diff"] = max_diff(out, out_ej)
                model.save_adapter(str(edir), name)
                dirs.append(edir)
            except RuntimeError as e:
                # adapters 1.3.0: PrefixTuning.eject() reshapes to prefix_length*n_layers*2*hidden,
                # which is wrong for grouped-query attention (Llama with fewer KV heads).
                shutil.rmtree(edir, ignore_errors=True)
                self.skip(f"{case_id}_ejected", f"eject_prefix_tuning failed: {type(e).__name__}: {e}")

        # Reload each saved directory into a fresh base and check it reproduces the output.
        tmp_root = tempfile.mkdtemp(prefix="goldens-")
        reload = {}
        for d in dirs:
            m2 = load_base(base_dir)
            adapters.init(m2)
            src = d
            if d.name.endswith("_ejected"):
                # adapters 1.3.0 saves an ejected prefix with "flat": false in adapter_config.json
                # although the weights are flat; it only reloads with that flag patched to true.
                src = Path(tmp_root) / d.name
                shutil.copytree(d, src)
                cj = json.loads((src / "adapter_config.json").read_text())
                cj["config"]["flat"] = True
                (src / "adapter_config.json").write_text(json.dumps(cj))
                extra["ejected_reload_note"] = (
                    "reloads only with adapter_config.json config.flat patched to true"
                )
            loaded = m2.load_adapter(str(src), use_safetensors=d.name.endswith("_safetensors"))
            m2.set_active_adapters(loaded)
            m2.eval()
            reload[rel(d)] = max_diff(out, run_base_model(m2, inputs))
        shutil.rmtree(tmp_root, ignore_errors=True)
        self.adapter_dirs[(mk_, name)] = {"dir": rel(adir), "config": config_record(acfg)}

        p = self.save_expected(mk_, name, out)
        self.add_case(
            id=case_id,
            model=mk_,
            kind="single",
            base_model_dir=rel(base_dir),
            model_class=type(model).__name__,
            adapters=[
                {
                    "name": name,
                    "dir": rel(d),
                    "config": config_record(acfg),
                    "files": sorted(f.name for f in d.iterdir()),
                }
                for d in dirs
            ],
            active=name,
            composition=None,
            head=None,
            input=ctx["inp_rel"],
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in out.items()},
            randomised_params=len(changed),
            max_abs_diff_vs_base=max_diff(out, ctx["base_out"])
            if out["last_hidden_state"].shape == ctx["base_out"]["last_hidden_state"].shape
            else None,
            reload_max_abs_diff=reload,
            **extra,
        )

    # ----------------------------------------------------------------------------------------
    def _load_saved(self, model, mk_, names):
        for n in names:
            info = self.adapter_dirs.get((mk_, n))
            if info is None:
                raise RuntimeError(f"adapter {n} was not generated for {mk_}")
            loaded = model.load_adapter(str(OUT / info["dir"]))
            assert loaded == n, (loaded, n)

    def composition_case(self, ctx, kind, suffix, a, b, fn):
        mk_, base_dir, inputs = ctx["model_key"], ctx["base_dir"], ctx["inputs"]
        case = f"{kind}_{suffix}"
        model = load_base(base_dir)
        adapters.init(model)
        self._load_saved(model, mk_, [a, b])
        block = fn(a, b)
        model.set_active_adapters(block)
        model.eval()
        out = run_base_model(model, inputs)
        p = self.save_expected(mk_, case, out)
        same_shape = out["last_hidden_state"].shape == ctx["base_out"]["last_hidden_state"].shape
        self.add_case(
            id=f"{mk_}/{case}",
            model=mk_,
            kind="composition",
            base_model_dir=rel(base_dir),
            model_class=type(model).__name__,
            adapters=[{"name": n, **self.adapter_dirs[(mk_, n)]} for n in (a, b)],
            active=comp_python(block),
            composition={"python": comp_python(block), "dict": block.to_dict()},
            head=None,
            input=ctx["inp_rel"],
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in out.items()},
            max_abs_diff_vs_base=max_diff(out, ctx["base_out"]) if same_shape else None,
        )

    # ----------------------------------------------------------------------------------------
    def fusion_case(self, ctx):
        mk_, base_dir, inputs = ctx["model_key"], ctx["base_dir"], ctx["inputs"]
        names = ["seq_bn", "seq_bn_2", "seq_bn_3"]
        model = load_base(base_dir)
        adapters.init(model)
        self._load_saved(model, mk_, names)
        before = param_names(model)
        fuse = Fuse(*names)
        model.add_adapter_fusion(fuse)  # default AdapterFusion config "dynamic"
        changed = perturb_new_params(model, before, f"{mk_}/fusion")
        model.set_active_adapters(fuse)
        model.eval()
        out = run_base_model(model, inputs)
        fdir = OUT / mk_ / "adapters" / "fusion"
        model.save_adapter_fusion(str(fdir), fuse)
        # reload check
        m2 = load_base(base_dir)
        adapters.init(m2)
        self._load_saved(m2, mk_, names)
        m2.load_adapter_fusion(str(fdir), set_active=True)
        m2.eval()
        reload = max_diff(out, run_base_model(m2, inputs))
        p = self.save_expected(mk_, "fusion", out)
        self.add_case(
            id=f"{mk_}/fusion",
            model=mk_,
            kind="fusion",
            base_model_dir=rel(base_dir),
            model_class=type(model).__name__,
            adapters=[{"name": n, **self.adapter_dirs[(mk_, n)]} for n in names],
            fusion_dir=rel(fdir),
            fusion_files=sorted(f.name for f in fdir.iterdir()),
            active=comp_python(fuse),
            composition={"python": comp_python(fuse), "dict": fuse.to_dict(), "fusion_config": "dynamic"},
            head=None,
            input=ctx["inp_rel"],
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in out.items()},
            randomised_params=len(changed),
            max_abs_diff_vs_base=max_diff(out, ctx["base_out"]),
            reload_max_abs_diff={rel(fdir): reload},
        )

    # ----------------------------------------------------------------------------------------
    def setup_case(self, ctx):
        """A saved composition (save_adapter_setup): adapter_setup.json + one folder per adapter."""
        mk_, base_dir, inputs = ctx["model_key"], ctx["base_dir"], ctx["inputs"]
        model = load_base(base_dir)
        adapters.init(model)
        self._load_saved(model, mk_, ["seq_bn", "lora"])
        block = Stack("seq_bn", "lora")
        model.set_active_adapters(block)
        model.eval()
        out = run_base_model(model, inputs)
        sdir = OUT / mk_ / "adapters" / "setup_stack"
        model.save_adapter_setup(str(sdir), block)
        m2 = load_base(base_dir)
        adapters.init(m2)
        m2.load_adapter_setup(str(sdir), set_active=True)
        m2.eval()
        reload = max_diff(out, run_base_model(m2, inputs))
        p = self.save_expected(mk_, "setup_stack", out)
        self.add_case(
            id=f"{mk_}/setup_stack",
            model=mk_,
            kind="adapter_setup",
            base_model_dir=rel(base_dir),
            model_class=type(model).__name__,
            adapters=[{"name": n, **self.adapter_dirs[(mk_, n)]} for n in ("seq_bn", "lora")],
            setup_dir=rel(sdir),
            setup_files=sorted(str(f.relative_to(sdir)) for f in sdir.rglob("*") if f.is_file()),
            active=comp_python(block),
            composition={"python": comp_python(block), "dict": block.to_dict()},
            head=None,
            input=ctx["inp_rel"],
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in out.items()},
            max_abs_diff_vs_base=max_diff(out, ctx["base_out"]),
            reload_max_abs_diff={rel(sdir): reload},
        )

    # ----------------------------------------------------------------------------------------
    def head_case(self, ctx, name, acfg):
        mk_, base_dir, inputs = ctx["model_key"], ctx["base_dir"], ctx["inputs"]
        case_id = f"{mk_}/{name}"
        model = load_adapter_model(base_dir)
        before = param_names(model)
        model.add_adapter(name, config=acfg)
        model.add_classification_head(name, num_labels=3)
        changed = perturb_new_params(model, before, case_id)
        model.set_active_adapters(name)
        model.eval()
        out = run_head_model(model, inputs, name)
        adir = OUT / mk_ / "adapters" / name
        model.save_adapter(str(adir), name, with_head=True)
        dirs = [adir]
        sdir = OUT / mk_ / "adapters" / f"{name}_safetensors"
        model.save_adapter(str(sdir), name, with_head=True, use_safetensors=True)
        dirs.append(sdir)
        reload = {}
        for d in dirs:
            m2 = load_adapter_model(base_dir)
            loaded = m2.load_adapter(str(d), with_head=True, use_safetensors=d.name.endswith("_safetensors"))
            m2.set_active_adapters(loaded)
            m2.eval()
            reload[rel(d)] = max_diff(out, run_head_model(m2, inputs, loaded))
        p = self.save_expected(mk_, name, out)
        self.add_case(
            id=case_id,
            model=mk_,
            kind="head",
            base_model_dir=rel(base_dir),
            model_class=type(model).__name__,
            adapters=[
                {
                    "name": name,
                    "dir": rel(d),
                    "config": config_record(acfg),
                    "files": sorted(f.name for f in d.iterdir()),
                }
                for d in dirs
            ],
            active=name,
            composition=None,
            head={
                "name": name,
                "type": "classification",
                "num_labels": 3,
                "call": f"add_classification_head({name!r}, num_labels=3)",
            },
            input=ctx["inp_rel"],
            expected=rel(p),
            expected_shapes={k: list(v.shape) for k, v in out.items()},
            randomised_params=len(changed),
            max_abs_diff_vs_base=max_diff({"last_hidden_state": out["last_hidden_state"]}, ctx["base_out"]),
            reload_max_abs_diff=reload,
        )


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    only = set(sys.argv[1:])
    gen = Generator()
    for model_key, cfg in base_configs().items():
        if only and model_key not in only:
            continue
        print(f"=== {model_key}", flush=True)
        gen.run_model(model_key, cfg)

    # Weight keys of every saved directory, for loader writers.
    weights = {}
    for d in sorted(OUT.glob("*/adapters/*")):
        for sub in [d, *sorted(p for p in d.iterdir() if p.is_dir())]:
            ws = weight_summary(sub)
            if ws:
                weights[rel(sub)] = ws

    manifest = {
        "format": "hubcli-adapterhub-goldens/1",
        "generator": "tests/golden/make_adapterhub_goldens.sh",
        "versions": {
            "adapters": adapters.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
            "python": sys.version.split()[0],
        },
        "seed": GLOBAL_SEED,
        "seed_rule": "torch.Generator().manual_seed((seed*1000003 + crc32(name)) % 2**31) per base model, input and case",
        "randomisation": f"every parameter added by add_adapter/add_classification_head/add_adapter_fusion: p += {PERTURB_STD} * N(0,1)",
        "attn_implementation": ATTN_IMPL,
        "torch_num_threads": 1,
        "dtype": "float32",
        "models": {
            k: {"base_model_dir": f"{k}/base", "input": f"{k}/inputs.json", "encoder": k in ENCODERS}
            for k in base_configs()
            if not only or k in only
        },
        "cases": gen.cases,
        "skipped": gen.skipped,
        "weights": weights,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    print(f"{len(gen.cases)} cases, {len(gen.skipped)} skipped")
    for s in gen.skipped:
        print("  skipped", s["id"], "-", s["reason"])


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
