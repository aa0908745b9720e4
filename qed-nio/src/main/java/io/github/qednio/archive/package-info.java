/**
 * Archives packed straight onto a new QED image's virtual disk, and unpacked from it, without temporary files: a
 * guest then reads them with {@code tar -xf /dev/vdb} (or {@code unzip}, {@code 7z} on the device).
 *
 * <pre>{@code
 * ImageArchives.pack(List.of(Path.of("site")), Path.of("site.qed"), PackOptions.defaults());
 * ImageArchives.unpack(Path.of("site.qed"), Path.of("restored"));
 * }</pre>
 *
 * <p>Needs Apache Commons Compress on the class or module path: it is an optional dependency of qed-nio (add
 * {@code org.apache.commons:commons-compress} to use this package; the rest of the library does not need it).
 */
package io.github.qednio.archive;
