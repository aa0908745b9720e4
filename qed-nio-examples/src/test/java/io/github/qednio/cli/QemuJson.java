package io.github.qednio.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the flat JSON objects qemu-img prints (one object, or an array of them), values kept as their text. */
final class QemuJson {
    private static final Pattern FIELD = Pattern.compile("\"([^\"]+)\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[^,}\\s]+)");

    private QemuJson() {
    }

    /** Each object's fields in order; values as written ({@code "text"} with its quotes, numbers, booleans). */
    static List<Map<String, String>> objects(String json) {
        List<Map<String, String>> out = new ArrayList<>();
        int depth = 0;
        int start = -1;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            if (c == '{' && depth++ == 0) {
                start = i;
            } else if (c == '}' && --depth == 0) {
                Map<String, String> fields = new LinkedHashMap<>();
                Matcher m = FIELD.matcher(json.substring(start, i + 1));
                while (m.find()) {
                    fields.put(m.group(1), m.group(2));
                }
                out.add(fields);
            }
        }
        return out;
    }

    /** The single object of {@code json}. */
    static Map<String, String> object(String json) {
        List<Map<String, String>> all = objects(json);
        if (all.size() != 1) {
            throw new IllegalArgumentException("expected one JSON object, got " + all.size() + ": " + json);
        }
        return all.get(0);
    }
}
