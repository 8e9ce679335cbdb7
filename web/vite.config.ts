// Vite builds the page into dist/ with relative asset URLs, so the relay (or any static
// server) can serve it from any path.
import { defineConfig } from "vite";

export default defineConfig({
	base: "./",
	build: {
		outDir: "dist",
		emptyOutDir: true,
		target: "es2022",
	},
});
