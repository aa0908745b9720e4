/**
 * Whole-image operations as {@code qemu-img} offers them, built on the engine: conversion between raw files and
 * QED images ({@link io.github.qednio.ops.ImageConverter}). The {@code qed} command-line tool is a thin shell over
 * this package and {@link io.github.qednio.ops.BackingOperations}.
 */
package io.github.qednio.ops;
