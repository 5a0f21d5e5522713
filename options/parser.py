"""argparse as the option system needs it (see OptionParser)."""
import argparse
import sys
from typing import Dict, List, Optional, Set, Tuple

_NOT_GIVEN = object()


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults after each option's help; a script's description (its usage lines) kept as written. A default that
    the chosen dataset or method set (COCO-Stuff's don't-care label, SDM's batch size) says so, with the option's
    own default beside it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        declared = getattr(action, 'declared_default', action.default)
        if declared == action.default or action.help is None or '%(default)' in action.help:
            return super()._get_help_string(action)
        return f'{action.help} (default: %(default)s for this --dataset_mode / --model; otherwise {declared})'


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line (and exit status 2) instead of the usage text, and
    takes every option by its whole name only (argparse would take `--label` for `--labels`, or for whichever option
    a new one makes it ambiguous with)."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str):
        print(f'error: {message} (see --help)', file=sys.stderr)
        sys.exit(2)


class OptionParser(OneLineErrorParser):
    """argparse with what the option system needs on top:

    - a bad option is reported as one line instead of the full usage text; no abbreviations;
    - `add_argument(..., architecture=True)` marks options that decide the networks' shapes;
    - `add_ignored_argument` accepts a reference option that has no effect here, with a note when it is given;
    - `parse_given` tells which options the command line gave, and `selected` what a choice resolves to while
      the parser is still being built (the command line, else the training run's saved value, else the default),
      so that the model's, networks' and dataset's option setters need not parse the command line again.
    """

    def __init__(self, **kwargs):
        self.declared: List[str] = []
        self.architecture_options: Set[str] = set()
        self.ignored_options: Dict[str, str] = {}
        self.selection: Dict[str, object] = {}
        super().__init__(formatter_class=HelpFormatter, add_help=False, **kwargs)

    def add_argument(self, *args, architecture: bool = False, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        action.declared_default = action.default  # set_defaults may change action.default (help says so)
        self.declared.append(action.dest)
        if architecture:
            self.architecture_options.add(action.dest)
        return action

    def add_ignored_argument(self, flag: str, reason: str, **kwargs) -> argparse.Action:
        """A reference option accepted for command-line compatibility that changes nothing here."""
        action = self.add_argument(flag, help=f'ignored: {reason}', **kwargs)
        self.ignored_options[action.dest] = reason
        return action

    def parse_given(self, args: List[str]) -> Tuple[Dict[str, object], List[str]]:
        """({dest: value} of the options present in `args`, the arguments not recognised yet)."""
        # argparse fills in a default only where the namespace has no value yet: a marker in every slot leaves
        # exactly the options that the command line gave with another value.
        namespace = argparse.Namespace(**{dest: _NOT_GIVEN for dest in self.declared})
        namespace, unknown = self.parse_known_args(args, namespace)
        return {k: v for k, v in vars(namespace).items() if v is not _NOT_GIVEN}, unknown

    def value_problem(self, dest: str, value) -> Optional[str]:
        """Why `value` is not one the command line could give option `dest` (None when it is): what a value read from
        a file (opt.json) must pass as the command line's values pass argparse."""
        action = next((a for a in self._actions if a.dest == dest), None)
        if action is None or value is None and action.default is None:
            return None
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return None if isinstance(value, bool) else f'{value!r} is not true or false'
        if isinstance(value, (bool, list, dict)) or value is None:
            return f'{value!r} is not a value of --{dest}'
        try:
            parsed = action.type(str(value)) if action.type is not None else str(value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            return str(exc) or f'{value!r} is not a value of --{dest}'
        if action.choices is not None and parsed not in action.choices:
            return f'{value!r} is not one of {", ".join(map(str, action.choices))}'
        return None

    def selected(self, dest: str):
        """An option's value while the parser is being built (see the class docstring)."""
        return self.selection[dest] if dest in self.selection else self.get_default(dest)
