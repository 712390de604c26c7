"""``dqlabels`` commands. Only option parsing lives here (the commands are in
:mod:`dqlabels_cli.audit_commands`, :mod:`~dqlabels_cli.data_commands` and
:mod:`~dqlabels_cli.learning_commands`, their shared options in :mod:`~dqlabels_cli.options`);
the work is done by the library.

Choices and defaults come from :mod:`dqlabels.config`, the one place they are written. Heavy
imports (pandas, pyarrow, TensorFlow) happen inside the commands, so ``--help`` is instant.
Library errors name the Python parameter (``image_size``); :func:`handle_errors` shows them with
the command's own flag (``--image-size``).
"""

from __future__ import annotations

import sys

import click

from dqlabels_cli import audit_commands, data_commands, learning_commands
from dqlabels_cli.options import CONTEXT, SHORT_HELP, fail


def run() -> None:
    """The ``dqlabels`` program: :func:`main`, then exit with its status
    (:func:`dqlabels.commandline.exit_process`)."""
    from dqlabels.commandline import exit_process

    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    exit_process(status)


class OneLineErrors(click.Group):
    """Usage errors (unknown option, bad choice, missing argument) as one line, exit 2."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
                click.echo(exc.ctx.get_help())  # plain `dqlabels`: show the help
                sys.exit(0)
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(exc.format_message().replace("\n", " ") + hint, 2)
        except click.ClickException as exc:
            fail(exc.format_message().replace("\n", " "), exc.exit_code)
        except click.exceptions.Abort:
            fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineErrors, context_settings=CONTEXT)
@click.version_option(package_name="dqlabels")
def main():
    """dqlabels: see what your human labels really say.

    Audit a campaign (evaluate), plan its next round (plan), and compare training on hard vs
    soft labels (train, reproduce).
    """


for _command in (audit_commands.evaluate, audit_commands.plan, learning_commands.predict,
                 data_commands.generate, data_commands.check_dataset, data_commands.split,
                 learning_commands.train, learning_commands.reproduce, learning_commands.tsne,
                 learning_commands.launch, data_commands.datasets):
    main.add_command(_command)
for _name, _text in SHORT_HELP.items():
    main.commands[_name].short_help = _text


if __name__ == "__main__":
    run()
