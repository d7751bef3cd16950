# Build stage: compile TypeScript.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# patches/ first: npm ci's postinstall applies them (patch-package) to the MongoDB driver.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

# Run stage: compiled JS, production dependencies, schemas.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schemas ./schemas
# The assistant's prompt template is read at start (src/features/conversations/prompt.ts).
COPY --from=build /app/src/features/conversations/prompts ./src/features/conversations/prompts
USER node
EXPOSE 8080 1883
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
