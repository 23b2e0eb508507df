"""Stage plots_template: the page template that lets `dvc plots show` render with no network."""

from ser.reports.plot_page import write_template
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    write_template(args.out)
    print(f"plots page template: {args.out} (Vega libraries inline, from vl-convert-python)")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--out", default="plots/template.html")
    run_stage(main, parser)
