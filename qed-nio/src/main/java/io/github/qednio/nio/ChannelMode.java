package io.github.qednio.nio;

import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;

/**
 * What a channel on a disk may do, from its open options. The disk behaves like a block device node:
 * {@code CREATE} and {@code TRUNCATE_EXISTING} are ignored (the disk exists and cannot shrink), {@code CREATE_NEW}
 * fails because the disk exists, {@code APPEND} and {@code DELETE_ON_CLOSE} are refused (a disk neither grows nor
 * is deleted), and {@code SYNC}/{@code DSYNC} flush the image after every write.
 *
 * @param createNew {@code CREATE_NEW} was given (the caller reports FileAlreadyExistsException)
 */
record ChannelMode(boolean readable, boolean writable, boolean sync, boolean createNew) {

    static ChannelMode of(Set<? extends OpenOption> options) {
        boolean read = false;
        boolean write = false;
        boolean sync = false;
        boolean createNew = false;
        for (OpenOption o : options) {
            if (o == StandardOpenOption.READ) {
                read = true;
            } else if (o == StandardOpenOption.WRITE) {
                write = true;
            } else if (o == StandardOpenOption.APPEND) {
                throw new UnsupportedOperationException("APPEND: a qed: disk has a fixed size and cannot be"
                        + " appended to; write at a position instead");
            } else if (o == StandardOpenOption.DELETE_ON_CLOSE) {
                throw new UnsupportedOperationException("DELETE_ON_CLOSE: a qed: disk cannot be deleted");
            } else if (o == StandardOpenOption.SYNC || o == StandardOpenOption.DSYNC) {
                sync = true;
            } else if (o == StandardOpenOption.CREATE_NEW) {
                createNew = true;
            } else if (o == StandardOpenOption.CREATE || o == StandardOpenOption.TRUNCATE_EXISTING
                    || o == StandardOpenOption.SPARSE || o == LinkOption.NOFOLLOW_LINKS) {
                // ignored: the disk always exists, never shrinks, is sparse already and is not a link
            } else if (o == null) {
                throw new NullPointerException("null open option");
            } else {
                throw new UnsupportedOperationException("open option " + o + " is not supported on a qed: disk");
            }
        }
        if (!write) {
            read = true;
        }
        return new ChannelMode(read, write, sync, createNew);
    }
}
