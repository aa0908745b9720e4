package io.github.qednio.cli;

/** {@code --output=human|json}, as qemu-img takes it. */
enum OutputFormat {
    human, json
}
