"""Fine-tuning the bundled MiniLM bi-encoder so that a question's vector lies closest to the sentence that
answers it: contrastive (InfoNCE) loss over in-batch and hard negatives, every fourth step over whole
paragraphs instead (so passage retrieval learns too).

A run checkpoints every ``CHECKPOINT_EVERY`` steps and when its time is up; the same command resumes from the
last checkpoint. The order of examples and every random choice depend only on the seed and the step, so a
resumed run trains on exactly what an uninterrupted one would. bf16 autocast where the CPU multiplies bfloat16
natively; a CUDA GPU when one is present.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from citeqa.train.data import Group, Triple

CHECKPOINT_EVERY = 200
PASSAGE_EVERY = 4  # every fourth step: question against paragraphs


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    batch: int = 48
    steps: int = 1500
    lr: float = 3e-5
    warmup: float = 0.05
    scale: float = 20.0
    q_len: int = 48
    s_len: int = 96
    p_len: int = 224
    title_share: float = 0.5  # sentences given their article title as the section, as citeqa embeds them


def _coin(seed: int, text: str, share: float) -> bool:
    h = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return h[0] / 256 < share


def sentence_text(t: Triple, sentence: str, cfg: TrainConfig) -> str:
    """A sentence as citeqa embeds it: with its section title (here, the article's) for a share of examples."""
    if sentence and t.title and _coin(cfg.seed, t.question + sentence, cfg.title_share):
        return f"{t.title} — {sentence}"
    return sentence


class Trainer:
    """Owns the model, optimiser and schedule; ``run`` trains until the step budget or time is spent."""

    def __init__(self, base: Path, work: Path, cfg: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import BertModel

        from citeqa.encode.bert_torch import native_bf16

        torch.manual_seed(cfg.seed)
        self.torch, self.cfg, self.work = torch, cfg, work
        self.log = log or (lambda line: print(line, flush=True))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.autocast = torch.bfloat16 if (self.device == "cuda" or native_bf16()) else None
        self.model = BertModel.from_pretrained(str(base), add_pooling_layer=False).to(self.device)
        self.model.embeddings.word_embeddings.weight.requires_grad_(False)  # shipped from the bundled model
        self.tok = Tokenizer.from_file(str(base / "tokenizer.json"))
        self.tok.enable_padding()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
        warm = max(1, int(cfg.steps * cfg.warmup))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min((s + 1) / warm, max(0.0, (cfg.steps - s) / max(1, cfg.steps - warm))))
        self.step = 0
        self._resume()

    # -- encoding -------------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], max_len: int):
        torch = self.torch
        self.tok.enable_truncation(max_len)
        enc = self.tok.encode_batch(list(texts))
        ids = torch.tensor([e.ids for e in enc], device=self.device)
        mask = torch.tensor([e.attention_mask for e in enc], device=self.device)
        ctx = torch.autocast(self.device, dtype=self.autocast) if self.autocast else nullcontext()
        with ctx:
            states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    # -- checkpoints ----------------------------------------------------------------------------------------
    @property
    def ckpt(self) -> Path:
        return self.work / "checkpoint.pt"

    def _resume(self) -> None:
        if not self.ckpt.is_file():
            return
        state = self.torch.load(self.ckpt, map_location=self.device, weights_only=True)  # tensors and numbers only
        if state["config"] != asdict(self.cfg):
            raise SystemExit(f"{self.ckpt} was made with other settings; remove {self.work} to start again")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.step = state["step"]
        self.log(f"resumed at step {self.step}")

    def save(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt.with_suffix(".tmp")
        self.torch.save({"config": asdict(self.cfg), "step": self.step, "model": self.model.state_dict(),
                         "opt": self.opt.state_dict(), "sched": self.sched.state_dict()}, tmp)
        tmp.replace(self.ckpt)

    # -- training -------------------------------------------------------------------------------------------
    def loss(self, batch: Sequence[Triple], passages: bool):
        torch, cfg = self.torch, self.cfg
        q = self.encode([t.question for t in batch], cfg.q_len)
        if passages:
            cand = self.encode([t.paragraph for t in batch], cfg.p_len)
        else:
            texts = [sentence_text(t, s, cfg) for t in batch for s in (t.positive, t.same_paragraph, t.same_article)]
            keep = [i for i, s in enumerate(texts) if s]
            enc = self.encode([texts[i] for i in keep], cfg.s_len)
            cand = torch.zeros((len(texts), enc.shape[1]), device=self.device)
            cand[keep] = enc
            cand = cand.view(len(batch), 3, -1).transpose(0, 1).reshape(3 * len(batch), -1)  # positives first
        scores = cfg.scale * q @ cand.T
        if not passages:
            empty = (cand.abs().sum(-1) == 0)
            scores = scores.masked_fill(empty.unsqueeze(0), -1e4)
        target = torch.arange(len(batch), device=self.device)
        return torch.nn.functional.cross_entropy(scores, target)

    def run(self, triples: Sequence[Triple], minutes: float) -> bool:
        """Train until ``cfg.steps`` (returns True) or ``minutes`` have passed (checkpoints, returns False)."""
        cfg, t0 = self.cfg, time.monotonic()
        orders: dict[int, np.ndarray] = {}
        self.model.train()
        window: list[float] = []
        while self.step < cfg.steps:
            if (time.monotonic() - t0) / 60 > minutes:
                self.save()
                self.log(f"time is up at step {self.step}; checkpoint saved, rerun to resume")
                return False
            per_epoch = max(1, len(triples) // cfg.batch)
            epoch, at = divmod(self.step, per_epoch)
            if epoch not in orders:
                orders[epoch] = np.random.default_rng([cfg.seed, epoch]).permutation(len(triples))
            batch = [triples[i] for i in orders[epoch][at * cfg.batch : (at + 1) * cfg.batch]]
            loss = self.loss(batch, passages=self.step % PASSAGE_EVERY == PASSAGE_EVERY - 1)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.sched.step()
            self.step += 1
            window.append(float(loss.detach()))
            if self.step % 50 == 0:
                rate = self.step / max(1e-9, time.monotonic() - t0)
                self.log(f"step {self.step}/{cfg.steps} loss {np.mean(window):.4f} ({rate:.2f} steps/s this run)")
                window.clear()
            if self.step % CHECKPOINT_EVERY == 0:
                self.save()
        self.save()
        return True

    # -- validation -----------------------------------------------------------------------------------------
    def validate(self, groups: Sequence[Group]) -> dict[str, dict[str, float]]:
        """Per domain: how often the top sentence by cosine holds the answer (p@1) and the mean reciprocal rank."""
        torch = self.torch
        self.model.eval()
        by: dict[str, list[tuple[float, float]]] = {}
        with torch.no_grad():
            for i in range(0, len(groups), 64):
                chunk = groups[i : i + 64]
                q = self.encode([g.question for g in chunk], self.cfg.q_len)
                s = self.encode([x for g in chunk for x in g.sentences], self.cfg.s_len)
                at = 0
                for j, g in enumerate(chunk):
                    sc = (s[at : at + len(g.sentences)] @ q[j]).cpu().numpy()
                    at += len(g.sentences)
                    ranks = np.argsort(-sc, kind="stable")
                    first = next(r for r, k in enumerate(ranks) if int(k) in g.gold)
                    by.setdefault(g.domain, []).append((float(first == 0), 1.0 / (first + 1)))
        self.model.train()
        out = {d: {"p@1": float(np.mean([a for a, _ in v])), "mrr": float(np.mean([b for _, b in v])), "n": len(v)}
               for d, v in sorted(by.items())}
        out["all"] = {k: float(np.mean([out[d][k] for d in by])) for k in ("p@1", "mrr")}
        return out


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
