package io.github.qednio.nio;

import java.io.IOException;
import java.nio.file.attribute.BasicFileAttributeView;

/**
 * The {@code qed} attribute view of a {@code qed:} disk: {@link QedFileAttributes} plus the basic ones. The qed
 * attributes are read-only; {@link #setTimes} sets the image file's times.
 */
public interface QedFileAttributeView extends BasicFileAttributeView {
    /** Returns {@code "qed"}. */
    @Override
    String name();

    @Override
    QedFileAttributes readAttributes() throws IOException;
}
