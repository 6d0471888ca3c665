import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * SextantSmoke loads libsextant.so through a JNI shim and runs one prediction.
 *
 * <pre>java SextantSmoke SHIM.so BUNDLE INPUT.f32 DIM...</pre>
 *
 * INPUT.f32 holds the only input as little-endian float32. Prints "open
 * error: ..." for a missing bundle, then "output NAME RANK DIM..." and one
 * value per line, then "ok". device/capi's TestJNISmoke runs it.
 */
public final class SextantSmoke {
    static native long open(String path);

    static native void close(long handle);

    static native String outputName(long handle, int i);

    static native float[] predict(long handle, float[] input, long[] shape, long[] outShape);

    public static void main(String[] args) throws Exception {
        System.load(Path.of(args[0]).toAbsolutePath().toString());
        try {
            open("/nonexistent/model.sxm");
            throw new AssertionError("opening a missing bundle succeeded");
        } catch (IllegalStateException e) {
            System.out.println("open error: " + e.getMessage());
        }

        FloatBuffer fb = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[2])))
                .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] x = new float[fb.remaining()];
        fb.get(x);
        long[] shape = new long[args.length - 3];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = Long.parseLong(args[3 + i]);
        }

        long h = open(args[1]);
        try {
            long[] outShape = new long[9];
            float[] y = predict(h, x, shape, outShape);
            StringBuilder sb = new StringBuilder("output " + outputName(h, 0) + " " + outShape[0]);
            for (int i = 0; i < outShape[0]; i++) {
                sb.append(' ').append(outShape[1 + i]);
            }
            System.out.println(sb);
            for (float v : y) {
                System.out.println(v);
            }
        } finally {
            close(h);
        }
        System.out.println("ok");
    }
}
