"""Print the schema as SDL: `python -m graph.export > schema.graphql`."""

from graph.schema import build_schema


def sdl() -> str:
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
