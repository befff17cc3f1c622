# Type stubs of llama_diffusion.generate (see generate.py for the documentation).
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core

Message = Union[Dict[str, str], Tuple[str, str]]

@dataclass
class Result:
    text: str
    tokens: List[int]
    stats: Dict[str, Any]
    prompt_tokens: List[int] = ...

@dataclass
class Step:
    canvas: int
    step: int
    steps_remaining: int
    draft: List[int]
    text: str
    n_accepted: int
    mean_entropy: float

@dataclass
class Commit:
    canvas: int
    tokens: List[int]
    text: str
    finished: bool

@dataclass
class Done:
    result: Result
    @property
    def stats(self) -> Dict[str, Any]: ...

Event = Union[Step, Commit, Done]

def engine_of(model: Any = None) -> _core.Engine: ...
def tokenize(model: Any, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]: ...
def detokenize(model: Any, ids: Sequence[int], skip_special: bool = False) -> str: ...
def generate(model: Any = None, prompt: Union[str, Sequence[int], None] = None, messages: Optional[Sequence[Message]] = None,
             max_tokens: int = 256, mode: str = "diffusion", seed: Optional[int] = None,
             max_steps: Optional[int] = None, t_min: Optional[float] = None, t_max: Optional[float] = None,
             entropy_bound: Optional[float] = None, stability: Optional[int] = None,
             confidence: Optional[float] = None, eos_ids: Optional[Sequence[int]] = None, thinking: bool = False,
             raw: Optional[bool] = None, deterministic: bool = False, temperature: Optional[float] = None,
             head: Optional[str] = None, max_canvases: Optional[int] = None, n_ctx: Optional[int] = None) -> Result: ...
def stream(model: Any = None, prompt: Union[str, Sequence[int], None] = None, messages: Optional[Sequence[Message]] = None,
           max_tokens: int = 256, mode: str = "diffusion", seed: Optional[int] = None,
           max_steps: Optional[int] = None, t_min: Optional[float] = None, t_max: Optional[float] = None,
           entropy_bound: Optional[float] = None, stability: Optional[int] = None,
           confidence: Optional[float] = None, eos_ids: Optional[Sequence[int]] = None, thinking: bool = False,
           raw: Optional[bool] = None, deterministic: bool = False, temperature: Optional[float] = None,
           head: Optional[str] = None, max_canvases: Optional[int] = None,
           n_ctx: Optional[int] = None) -> Iterator[Event]: ...

class ChatSession:
    defaults: Dict[str, Any]
    history: List[Dict[str, str]]
    def __init__(self, model: Any = None, system: Optional[str] = None, thinking: bool = False, **defaults: Any) -> None: ...
    @property
    def turns(self) -> int: ...
    @property
    def kv_length(self) -> int: ...
    def send(self, message: str, **kw: Any) -> Result: ...
    def stream(self, message: str, **kw: Any) -> Iterator[Event]: ...
    def clear(self) -> None: ...
