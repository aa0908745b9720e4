package io.github.qednio.examples;

/** {@code --output=human|json}, as qemu-img takes it. */
enum OutputFormat {
    human, json
}
